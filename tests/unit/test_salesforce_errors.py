"""Error mapping, the API budget and Bulk CSV read-back."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.util import Usage

from extractors.salesforce.bulk import count_csv_rows, read_csv_chunks
from extractors.salesforce.client import SalesforceClient, SalesforceCredentials
from extractors.salesforce.errors import (
    Action,
    SalesforceBudgetExhausted,
    classify,
    explain,
    is_daily_limit,
)

pytestmark = pytest.mark.unit

URL = "https://example.my.salesforce.com/services/data/v59.0/queryAll/"


def err(cls, status, code, message="m"):
    return cls(URL, status, "query", [{"message": message, "errorCode": code}])


@pytest.mark.parametrize(
    ("exc", "action"),
    [
        (
            err(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests"),
            Action.RETRY,
        ),
        (err(SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW"), Action.RETRY),
        (err(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE"), Action.RETRY),
        (SalesforceGeneralError(URL, 502, "query", "<html>bad gateway</html>"), Action.RETRY),
        (err(SalesforceExpiredSession, 401, "INVALID_SESSION_ID"), Action.RELOGIN),
        (requests.ConnectionError("reset by peer"), Action.RETRY),
        (requests.exceptions.ChunkedEncodingError("dropped"), Action.RETRY),
        (err(SalesforceMalformedRequest, 400, "INVALID_FIELD"), Action.FATAL),
        (err(SalesforceResourceNotFound, 404, "NOT_FOUND"), Action.FATAL),
        (
            err(
                SalesforceRefusedRequest,
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            ),
            Action.FATAL,
        ),
    ],
)
def test_classify(exc, action):
    assert classify(exc) is action


def test_daily_limit_is_told_apart_from_concurrency():
    assert is_daily_limit(
        err(
            SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
        )
    )
    assert not is_daily_limit(
        err(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn")
    )


def test_explain_says_what_to_do_for_a_missing_field():
    text, hint = explain(
        err(SalesforceMalformedRequest, 400, "INVALID_FIELD", "No such column 'Foo__c'"),
        "query Account",
    )
    assert "query Account" in text and "INVALID_FIELD" in text and "permission" in hint


def client() -> SalesforceClient:
    return SalesforceClient(
        SalesforceCredentials("https://login.example", "id", "secret"), api_reserve=0.10
    )


def test_budget_stops_at_the_reserve_with_a_message():
    c = client()
    c.record_usage(Usage(used=899, total=1000))
    c.check_budget()
    c.record_usage(Usage(used=900, total=1000))
    with pytest.raises(SalesforceBudgetExhausted, match="900 of 1000"):
        c.check_budget()
    with pytest.raises(SalesforceBudgetExhausted):
        c.call("query Account", lambda sf: pytest.fail("no request past the reserve"))
    assert c.requests_made == 0


def test_api_calls_used_counts_from_the_first_response():
    c = client()
    assert c.api_calls_used is None
    c.record_usage(Usage(used=10, total=1000))
    c.record_usage(Usage(used=14, total=1000))
    assert c.api_calls_used == 5


def test_credentials_repr_hides_secrets():
    creds = SalesforceCredentials("https://login.example", "cid", "s3cret", "u@x", "pw")
    assert "s3cret" not in repr(creds) and "pw" not in repr(creds) and "u@x" not in repr(creds)


def test_bulk_csv_is_read_back_in_chunks_with_quoted_newlines(tmp_path: Path):
    path = tmp_path / "page.csv"
    rows = ['"Id","Description"'] + [f'"001{i:015d}","line\nnext {i}"' for i in range(7)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert count_csv_rows(path) == 7
    chunks = list(read_csv_chunks(path, 3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert chunks[2][0] == {"Id": "001000000000000006", "Description": "line\nnext 6"}
