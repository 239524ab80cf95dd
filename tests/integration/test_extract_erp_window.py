"""SuiteQL's 100,000-row window: NetSuite says `hasMore: false` there even when more rows match.

A minimal loopback HTTP server answers like NetSuite at the window edge (total capped at the
window, `hasMore` false on the last page inside it); the client must report the window as
reached so the extractor restarts from its last key instead of stopping short.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from extractors.erp.suiteql import ErpCredentials, PageWindow, SuiteQLClient

pytestmark = pytest.mark.integration

ROWS = 25  # rows that match the query
WINDOW = 10  # the server's (and the client's) row window


class NetSuiteLike(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        query = parse_qs(urlparse(self.path).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        self.rfile.read(int(self.headers["Content-Length"]))
        total = min(ROWS, WINDOW)  # like NetSuite: nothing past the window
        items = [{"links": [], "id": str(i)} for i in range(offset, min(offset + limit, total))]
        body = {
            "links": [],
            "count": len(items),
            "hasMore": offset + len(items) < total,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NetSuiteLike)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        thread.join()


def test_reaching_the_window_is_reported_even_when_has_more_is_false(server):
    client = SuiteQLClient(ErpCredentials(server, "t"), page_size=4, max_window=WINDOW)
    window = PageWindow()
    pages = list(client.query_pages("SELECT id FROM customer ORDER BY id", window))
    client.close()
    assert [len(p) for p in pages] == [4, 4, 2]
    assert window.exhausted


def test_a_listing_that_ends_inside_the_window_is_complete(server):
    client = SuiteQLClient(ErpCredentials(server, "t"), page_size=4, max_window=WINDOW + 5)
    window = PageWindow()
    rows = sum(len(p) for p in client.query_pages("SELECT id FROM customer", window))
    client.close()
    assert rows == WINDOW and not window.exhausted
