"""ERP extractor: SuiteQL pages of customers, accounts, periods, subsidiaries, currencies,
transactions and transaction lines into `raw.erp__<table>`.

- `suiteql`: the HTTP client (paging by `hasMore`/offset, retries, NetSuite's error envelope);
- `tables`: which tables, which columns, incremental or full, and the SuiteQL for each;
- `normalize`: `normalize_record()`, the landing shape of a SuiteQL item;
- `extract`: `ErpExtractor.extract(table)`.

No Dagster imports here: orchestration/assets/erp.py wires these into assets.
"""

from extractors.erp.extract import ErpExtractor
from extractors.erp.normalize import normalize_record
from extractors.erp.suiteql import ErpCredentials, SuiteQLClient
from extractors.erp.tables import TABLES, TableSpec

__all__ = [
    "TABLES",
    "ErpCredentials",
    "ErpExtractor",
    "SuiteQLClient",
    "TableSpec",
    "normalize_record",
]
