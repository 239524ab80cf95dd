"""Credentials the ERP stand-in accepts, and their checks.

NetSuite's REST web services take OAuth 2.0 bearer tokens or OAuth 1.0 Token-Based
Authentication (TBA: a consumer key/secret and a token id/secret, signed HMAC-SHA256 with the
account id as `realm`). The stand-in accepts both:

- `Authorization: Bearer <token>` with the configured token (`ERP_TOKEN`), which is what the
  pipeline uses (`Q2C_ERP_TOKEN`);
- `Authorization: OAuth realm="<account>", oauth_consumer_key=..., oauth_signature=...` whose
  HMAC-SHA256 (or HMAC-SHA1) signature, `oauth_body_hash` and timestamp (within 10 minutes of
  the wall clock: the signature is transport, not world, time) are verified with the
  configured TBA credentials (`TBA`), so third-party NetSuite clients work unmodified.

Secrets are sandbox-only constants; none is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from oauthlib.oauth1.rfc5849 import signature as oauth_sig

ERP_TOKEN = "q2c-sandbox-erp-token"
ACCOUNT_ID = "Q2C_SANDBOX"


@dataclass(frozen=True)
class TokenBasedAuth:
    """NetSuite TBA credentials (an integration record's consumer pair and a user's token)."""

    account: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


TBA = TokenBasedAuth(
    account=ACCOUNT_ID,
    consumer_key="q2c-sandbox-consumer-key",
    consumer_secret="q2c-sandbox-consumer-secret",
    token_id="q2c-sandbox-token-id",
    token_secret="q2c-sandbox-token-secret",
)

MAX_CLOCK_SKEW_S = 600


def _parse_oauth_header(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in value[len("OAuth ") :].split(","):
        key, sep, raw = part.strip().partition("=")
        if not sep:
            continue
        params[key.strip()] = unquote(raw.strip().strip('"'))
    return params


def check_authorization(
    header: str | None,
    *,
    method: str,
    url: str,
    body: bytes,
    token: str = ERP_TOKEN,
    tba: TokenBasedAuth = TBA,
) -> str | None:
    """Check an `Authorization` header.

    Args:
        header: the header value (None when absent).
        method: the HTTP method, for the OAuth 1.0 signature base string.
        url: the full request URL as the client addressed it (query included).
        body: the raw request body (for `oauth_body_hash`).
        token: the bearer token to accept.
        tba: the TBA credentials to accept.

    Returns:
        None when the request is authenticated, else the reason (never a secret).
    """
    if not header:
        return "no Authorization header"
    if header.startswith("Bearer "):
        given = header[len("Bearer ") :].strip()
        return None if hmac.compare_digest(given, token) else "unknown bearer token"
    if not header.startswith("OAuth "):
        return "unsupported authorization scheme"
    params = _parse_oauth_header(header)
    if params.get("realm", "").upper() != tba.account.upper():
        return "realm is not this account"
    if params.get("oauth_consumer_key") != tba.consumer_key:
        return "unknown consumer key"
    if params.get("oauth_token") != tba.token_id:
        return "unknown token id"
    try:
        if abs(int(params.get("oauth_timestamp", "0")) - time.time()) > MAX_CLOCK_SKEW_S:
            return "timestamp out of range"
    except ValueError:
        return "bad timestamp"
    if "oauth_body_hash" in params:
        expected = base64.b64encode(hashlib.sha1(body).digest()).decode()
        if not hmac.compare_digest(expected, params["oauth_body_hash"]):
            return "body hash mismatch"
    given_sig = params.get("oauth_signature", "")
    query = url.partition("?")[2]
    collected = oauth_sig.collect_parameters(
        uri_query=query, headers={"Authorization": header}, with_realm=False
    )
    normalized = oauth_sig.normalize_parameters(collected)
    base = oauth_sig.signature_base_string(
        method.upper(), oauth_sig.base_string_uri(url.partition("?")[0]), normalized
    )
    digest = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}.get(
        params.get("oauth_signature_method", "")
    )
    if digest is None:
        return "unsupported signature method"
    # RFC 5849 section 3.4.2: key = escaped consumer secret & escaped token secret.
    key = f"{quote(tba.consumer_secret, safe='~')}&{quote(tba.token_secret, safe='~')}"
    mac = hmac.new(key.encode(), base.encode(), digest).digest()
    expected_sig = base64.b64encode(mac).decode()
    if not hmac.compare_digest(expected_sig, given_sig):
        return "signature mismatch"
    return None
