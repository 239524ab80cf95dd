"""Benchmark: the CRM write-back of N changed accounts through Bulk API 2.0, end to end.

A synthetic Salesforce org (`sandbox.salesforce.synthetic`, N live accounts) served over TLS by
the stand-in; a DuckDB warehouse in a temp dir; `q2c.writeback.run_flow` for the account flow
with every account's MRR and billing status changed, so every record is read (SOQL per 200),
resolved, stored in the outbox, upserted (Bulk API 2.0 jobs of 10,000, above the contract's
`bulk_threshold`) and recorded in the audit trail. `max_writes_per_run` is lifted for the run.
Prints records/s for the whole run and for the Bulk upserts alone, then the same for a second
run (which must write nothing). Usage:

    .venv/bin/python -m bench.writeback [--accounts 10000,100000] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractors.salesforce.client import SalesforceClient, SalesforceCredentials
from extractors.salesforce.writer import SalesforceWriter
from q2c.policy.loader import default_contract
from q2c.warehouse import Warehouse
from q2c.writeback import FLOWS, run_flow
from sandbox.salesforce.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_app
from sandbox.salesforce.serve import serve_tls
from sandbox.salesforce.synthetic import write_world


@dataclass
class Passed:
    passed: bool = True
    reasons: tuple[str, ...] = ()


class TimedWriter(SalesforceWriter):
    """Adds the time spent in `write` (the Bulk jobs) to `self.write_seconds`."""

    write_seconds = 0.0

    def write(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return super().write(*args, **kwargs)
        finally:
            self.write_seconds += time.perf_counter() - t0


def rows(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        cid = f"cus_{i:014d}"
        for field, value in (("MRR__c", f"{1000 + i % 977}.25"), ("Billing_Status__c", "active")):
            out.append({"billing_customer_id": cid, "account_id": None, "field_api_name": field,
                        "proposed_value": value, "crm_value": None,
                        "source_ref": f"billing:customer:{cid}"})  # fmt: skip
    return out


def bench(n: int, work: Path) -> None:
    world = work / f"world-{n}"
    write_world(world, n, deleted_every=0)
    contract = default_contract()
    rollout = {**contract.rollout}
    flow = rollout["crm_account_enrichment"]
    rollout["crm_account_enrichment"] = flow.model_copy(update={"max_writes_per_run": None})
    contract = contract.model_copy(update={"rollout": rollout})
    payload = rows(n)
    with serve_tls(create_app(world), work / f"certs-{n}") as srv:
        creds = SalesforceCredentials(login_url=srv.base_url, client_id=SANDBOX_CLIENT_ID,
                                      client_secret=SANDBOX_CLIENT_SECRET,
                                      ca_bundle=srv.ca_file)  # fmt: skip
        client = SalesforceClient(creds)
        writer = TimedWriter(client, poll_max=0.2)
        with Warehouse.from_url(f"duckdb:///{work / f'wh-{n}.duckdb'}") as wh:
            for label in ("first run", "second run"):
                writer.write_seconds = 0.0
                t0 = time.perf_counter()
                report = run_flow(FLOWS["crm_account_sync"], payload, contract=contract,
                                  warehouse=wh, writer=writer, run_id=f"bench-{n}-{label}",
                                  gate=lambda _b: Passed(), home=work, sleep=time.sleep,
                                  rng=random.Random(0))  # fmt: skip
                total = time.perf_counter() - t0
                bulk_rate = report.written / writer.write_seconds if writer.write_seconds else 0
                print(
                    f"{n} accounts, {label}: written={report.written} bulk={report.bulk} "
                    f"jobs={writer.stats.bulk_jobs} queries={writer.stats.queries} "
                    f"total={total:.1f}s ({report.written / total:.0f} records/s end to end) "
                    f"bulk upserts={writer.write_seconds:.1f}s ({bulk_rate:.0f} records/s)",
                    flush=True,
                )
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="10000", help="comma-separated account counts")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="q2c-bench-wb-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in (int(x) for x in args.accounts.split(",")):
            bench(n, work)


if __name__ == "__main__":
    main()
