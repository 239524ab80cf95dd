"""Salesforce extractor: REST `queryAll` incrementals and Bulk API 2.0 backfills into raw tables.

Objects Account, Contact, Opportunity, Case and User by default (policy/ownership.yml may name
others); every field `describe` lists; incremental on `SystemModstamp` with an overlap window;
deletions from `IsDeleted`; the landing de-duplicates by `(Id, payload hash)`. The modules:

- `client`: OAuth 2.0 login, retries, re-login, the daily API budget (`Sforce-Limit-Info`);
- `soql`: query text and cursor arithmetic;
- `normalize`: `normalize_record()`, one shape for REST JSON and Bulk CSV;
- `bulk`: Bulk API 2.0 `queryAll` jobs streamed to disk;
- `extract`: `SalesforceExtractor.extract()` (incremental) and `.backfill()` (a window);
- `errors`: what each failure means and what to do about it.

No Dagster imports here: orchestration/assets/salesforce.py wires these into assets.
"""

from extractors.salesforce.client import RetrySettings, SalesforceClient, SalesforceCredentials
from extractors.salesforce.errors import (
    RecordInvalid,
    SalesforceAuthError,
    SalesforceBudgetExhausted,
    SalesforceExtractError,
    SalesforceSchemaError,
)
from extractors.salesforce.extract import (
    DEFAULT_OBJECTS,
    ExtractResult,
    SalesforceExtractor,
    configured_objects,
)
from extractors.salesforce.normalize import normalize_record

__all__ = [
    "DEFAULT_OBJECTS",
    "ExtractResult",
    "RecordInvalid",
    "RetrySettings",
    "SalesforceAuthError",
    "SalesforceBudgetExhausted",
    "SalesforceClient",
    "SalesforceCredentials",
    "SalesforceExtractError",
    "SalesforceExtractor",
    "SalesforceSchemaError",
    "configured_objects",
    "normalize_record",
]
