"""Benchmark of the Salesforce stand-in: Bulk API 2.0 query CSV rows/s and REST query pages/s.

Serves the stand-in over TLS in its own process (`python -m sandbox.salesforce`, as the
`q2c sandbox` runner does), on a world given with `--world` (e.g. an M world), or one generated
with `--scale M`, else on a synthetic `salesforce.sqlite` of `--accounts` accounts, and prints:

- Bulk 2.0 query: create job, poll, read every results page (50,000 rows each) with `requests`
  (the extractor's path) and with simple-salesforce's `bulk2.<Object>.query`; rows/s end to end,
  each `--repeat` times, plus the stand-in's CPU-seconds per 100,000 rows (user + system of its
  process, from /proc): on a loaded machine wall-clock rows/s drop, CPU per row does not much.
- REST query: `query_all_iter` paging at 2,000 rows (`nextRecordsUrl`); rows/s and pages/s.

The load average (`/proc/loadavg`, 1 minute) is printed with each figure.

Run: `.venv/bin/python -m bench.sandbox_salesforce [--world DIR | --scale M | --accounts N]
[--repeat N]`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import trustme
from simple_salesforce import Salesforce

from sandbox.salesforce.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from sandbox.salesforce.serve import free_port
from sandbox.salesforce.synthetic import write_world
from sandbox.world.salesforce_schema import SOBJECTS

FIELDS = (
    "Id, Name, Type, BillingCity, BillingCountry, Billing_Customer_Id__c, MRR__c, ARR__c, "
    "Billing_Status__c, Last_Payment_Date__c, CurrencyIsoCode, IsDeleted, SystemModstamp, "
    "LastModifiedById"
)


def _world(tmp: Path, args: argparse.Namespace) -> tuple[Path, str]:
    if args.world:
        # a copy: the stand-in adds its journal and indexes to the file it serves
        world = tmp / "world-copy"
        world.mkdir()
        for name in ("salesforce.sqlite", "truth.sqlite"):
            if (args.world / name).exists():
                with (
                    sqlite3.connect(args.world / name) as src,
                    sqlite3.connect(world / name) as dst,
                ):
                    src.backup(dst)
        return world, f"copy of {args.world}"
    if args.scale:
        from sandbox.world import generate

        world = tmp / f"world-{args.scale}"
        t0 = time.perf_counter()
        generate(world, seed=7, scale=args.scale)
        return world, f"generated {args.scale} world ({time.perf_counter() - t0:.0f} s)"
    world = tmp / "world-synthetic"
    counts = write_world(world, args.accounts)
    return world, f"synthetic world {counts}"


def _check_counts(sf: Salesforce, world: Path) -> None:
    """Page through every object (REST query, REST queryAll, Bulk queryAll) against truth."""
    truth_file = world / "truth.sqlite"
    if not truth_file.exists():
        return
    with sqlite3.connect(truth_file) as conn:
        truth = dict(conn.execute("SELECT object, n FROM counts WHERE system = 'salesforce'"))
    print("page-through counts vs truth.counts (live / all):")
    for obj in sorted(SOBJECTS):
        t0 = time.perf_counter()
        live = sum(1 for _ in sf.query_all_iter(f"SELECT Id FROM {obj}"))
        every = sum(1 for _ in sf.query_all_iter(f"SELECT Id FROM {obj}", include_deleted=True))
        bulk = sum(
            page.count("\n") - 1
            for page in getattr(sf.bulk2, obj).query_all(f"SELECT Id FROM {obj}", wait=0)
        )
        want = (truth[f"{obj}:live"], truth[obj])
        ok = (live, every) == want and bulk == want[1]
        verdict = "OK" if ok else "MISMATCH"
        print(
            f"  {obj:<12} truth {want[0]:>8,} / {want[1]:>8,}  REST {live:>8,} / {every:>8,}  "
            f"Bulk {bulk:>8,}  {verdict}  ({time.perf_counter() - t0:.1f} s)"
        )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


@contextmanager
def _server(world: Path, tmp: Path) -> Iterator[tuple[str, str, int]]:
    """The stand-in in a child process over TLS; yields (base_url, ca_file, pid)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = {n: str(tmp / f"{n}.pem") for n in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    cert.private_key_pem.write_to_path(paths["key"])
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "sandbox.salesforce", "--world", str(world), "--port", str(port),
         "--certfile", paths["cert"], "--keyfile", paths["key"]]
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(base + "/services/data/", verify=paths["ca"], timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield base, paths["ca"], child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _bulk_requests(
    session: requests.Session, jobs: str, soql: str, headers: dict[str, str], pid: int
) -> int:
    """One Bulk 2.0 queryAll read with plain requests (what an extractor streaming CSV pays)."""
    cpu0 = _cpu_seconds(pid)
    t0 = time.perf_counter()
    job = session.post(jobs, json={"operation": "queryAll", "query": soql},
                       headers=headers).json()  # fmt: skip
    while session.get(f"{jobs}/{job['id']}", headers=headers).json()["state"] != "JobComplete":
        time.sleep(0.05)
    rows = pages = nbytes = 0
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
    cpu = _cpu_seconds(pid) - cpu0
    print(
        f"bulk 2.0 query (requests): {rows:,} rows, {pages} pages, {nbytes / 1e6:.0f} MB in "
        f"{dt:.2f} s = {rows / dt:,.0f} rows/s; stand-in CPU {cpu:.2f} s = "
        f"{cpu / rows * 1e5:.2f} s per 100k rows; load {_load()}"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=300_000)
    parser.add_argument("--world", type=Path, help="an existing world directory")
    parser.add_argument("--scale", help="generate a world of this scale (S, M, L)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each Bulk query figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        world, what = _world(tmp, args)
        print(f"world: {what}")
        with _server(world, tmp) as (base_url, ca_file, pid):
            session = requests.Session()
            session.verify = ca_file
            session.trust_env = False
            token = session.post(
                base_url + "/services/oauth2/token",
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
            _check_counts(sf, world)
            soql = f"SELECT {FIELDS} FROM Account"
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            jobs = f"{base_url}/services/data/v62.0/jobs/query"

            for _ in range(args.repeat):
                rows = _bulk_requests(session, jobs, soql, headers, pid)
            for _ in range(args.repeat):
                cpu0 = _cpu_seconds(pid)
                t0 = time.perf_counter()
                n = 0
                for page in sf.bulk2.Account.query_all(soql, max_records=50_000, wait=0):
                    n += page.count("\n") - 1
                dt = time.perf_counter() - t0
                cpu = _cpu_seconds(pid) - cpu0
                print(
                    f"bulk 2.0 query (simple-salesforce): {n:,} rows in {dt:.2f} s = "
                    f"{n / dt:,.0f} rows/s; stand-in CPU {cpu / n * 1e5:.2f} s per 100k rows; "
                    f"load {_load()}"
                )

            limit = min(rows, 100_000)
            cpu0 = _cpu_seconds(pid)
            t0 = time.perf_counter()
            n = sum(1 for _ in sf.query_all_iter(f"{soql} LIMIT {limit}"))
            dt = time.perf_counter() - t0
            cpu = _cpu_seconds(pid) - cpu0
            pages = -(-n // 2000)
            print(
                f"REST query_all_iter: {n:,} rows, {pages} pages of 2,000 in {dt:.2f} s = "
                f"{n / dt:,.0f} rows/s, {pages / dt:.1f} pages/s; stand-in CPU {cpu:.2f} s = "
                f"{n / cpu:,.0f} rows per CPU-second"
            )
            # Bulk 2.0 upsert on the external id: validation, lookups and journal per row.
            keys = [r["Billing_Customer_Id__c"] for r in sf.query_all(
                "SELECT Billing_Customer_Id__c FROM Account WHERE IsDeleted = false AND "
                "Billing_Customer_Id__c != null LIMIT 10000")["records"]]  # fmt: skip
            records = [{"Billing_Customer_Id__c": k, "Billing_Status__c": "active",
                        "MRR__c": f"{i % 997}.50"} for i, k in enumerate(keys)]  # fmt: skip
            cpu0 = _cpu_seconds(pid)
            t0 = time.perf_counter()
            done = sf.bulk2.Account.upsert(
                records=records, external_id_field="Billing_Customer_Id__c", wait=0
            )
            dt = time.perf_counter() - t0
            cpu = _cpu_seconds(pid) - cpu0
            failed = sum(int(r["numberRecordsFailed"]) for r in done)
            print(
                f"bulk 2.0 upsert: {len(records):,} rows ({failed} failed) in {dt:.2f} s = "
                f"{len(records) / dt:,.0f} rows/s; stand-in CPU {cpu:.2f} s"
            )
            print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            usage = sf.api_usage.get("api-usage")
            print(f"API calls counted by the stand-in: {usage}")


if __name__ == "__main__":
    main()
