"""Benchmark of the Salesforce stand-in: Bulk API 2.0 query CSV rows/s and REST query pages/s.

Serves the stand-in over TLS (as the pipeline meets it) on an M-size generated world when
`sandbox.world.generate` is available, else on a synthetic `salesforce.sqlite`, and prints:

- Bulk 2.0 query: create job, poll, read every results page (50,000 rows each) with `requests`
  (the extractor's path) and with simple-salesforce's `bulk2.<Object>.query`; rows/s end to end.
- REST query: `query_all_iter` paging at 2,000 rows (`nextRecordsUrl`); rows/s and pages/s.

Run: `.venv/bin/python -m bench.sandbox_salesforce [--accounts N] [--synthetic]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import requests
from simple_salesforce import Salesforce

from sandbox.salesforce.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_app
from sandbox.salesforce.serve import serve_tls
from sandbox.salesforce.synthetic import write_world

FIELDS = (
    "Id, Name, Type, BillingCity, BillingCountry, Billing_Customer_Id__c, MRR__c, ARR__c, "
    "Billing_Status__c, Last_Payment_Date__c, CurrencyIsoCode, IsDeleted, SystemModstamp, "
    "LastModifiedById"
)


def _world(tmp: Path, accounts: int, synthetic: bool) -> tuple[Path, str]:
    if not synthetic:
        try:
            from sandbox.world import generate  # type: ignore[attr-defined]
        except ImportError:
            generate = None
        if generate is not None:
            world = tmp / "world-m"
            t0 = time.perf_counter()
            generate(world, seed=7, scale="M")
            return world, f"generated M world ({time.perf_counter() - t0:.0f} s to generate)"
    world = tmp / "world-synthetic"
    counts = write_world(world, accounts)
    return world, f"synthetic world {counts}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=300_000)
    parser.add_argument("--synthetic", action="store_true", help="skip the world generator")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        world, what = _world(tmp, args.accounts, args.synthetic)
        print(f"world: {what}")
        with serve_tls(create_app(world), tmp / "certs") as served:
            session = requests.Session()
            session.verify = served.ca_file
            session.trust_env = False
            token = session.post(
                served.base_url + "/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": SANDBOX_CLIENT_ID,
                    "client_secret": SANDBOX_CLIENT_SECRET,
                },
            ).json()
            sf = Salesforce(
                instance_url=token["instance_url"],
                session_id=token["access_token"],
                session=session,
                version="62.0",
            )
            soql = f"SELECT {FIELDS} FROM Account"
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            jobs = f"{served.base_url}/services/data/v62.0/jobs/query"

            # Bulk 2.0 with plain requests: what an extractor streaming CSV pays.
            t0 = time.perf_counter()
            job = session.post(jobs, json={"operation": "queryAll", "query": soql},
                               headers=headers).json()  # fmt: skip
            while session.get(f"{jobs}/{job['id']}", headers=headers).json()["state"] != (
                "JobComplete"
            ):
                time.sleep(0.05)
            rows = pages = 0
            nbytes = 0
            locator = ""
            while True:
                params = {"maxRecords": 50_000, **({"locator": locator} if locator else {})}
                resp = session.get(f"{jobs}/{job['id']}/results", params=params, headers=headers)
                rows += int(resp.headers["Sforce-NumberOfRecords"])
                nbytes += len(resp.content)
                pages += 1
                locator = resp.headers["Sforce-Locator"]
                if locator == "null":
                    break
            dt = time.perf_counter() - t0
            print(
                f"bulk 2.0 query (requests): {rows:,} rows, {pages} pages, "
                f"{nbytes / 1e6:.0f} MB in {dt:.2f} s = {rows / dt:,.0f} rows/s"
            )

            t0 = time.perf_counter()
            n = 0
            for page in sf.bulk2.Account.query_all(soql, max_records=50_000, wait=0):
                n += page.count("\n") - 1
            dt = time.perf_counter() - t0
            print(f"bulk 2.0 query (simple-salesforce): {n:,} rows in {dt:.2f} s = "
                  f"{n / dt:,.0f} rows/s")  # fmt: skip

            limit = min(rows, 100_000)
            t0 = time.perf_counter()
            n = sum(1 for _ in sf.query_all_iter(f"{soql} LIMIT {limit}"))
            dt = time.perf_counter() - t0
            pages = -(-n // 2000)
            print(
                f"REST query_all_iter: {n:,} rows, {pages} pages of 2,000 in {dt:.2f} s = "
                f"{n / dt:,.0f} rows/s, {pages / dt:.1f} pages/s"
            )
            usage = sf.api_usage.get("api-usage")
            print(f"API calls counted by the stand-in: {usage}")


if __name__ == "__main__":
    main()
