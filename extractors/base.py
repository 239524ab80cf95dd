"""What every extractor shares: it owns its client, and is opened and closed the same way.

Contract:
- `Extractor`: the base of `BillingExtractor`, `SalesforceExtractor` and `ErpExtractor`. It
  holds `client`, `wh` and `run_id`; `close()` releases what the extractor holds (its client's
  HTTP session, and whatever a subclass adds: the billing payout thread pool) and is idempotent.
  Use it as a context manager so it is closed on every path:

      with BillingExtractor(client, wh, run_id=run_id) as extractor:
          result = extractor.extract_object("invoice")

  The warehouse is not closed: its opener closes it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class Extractor:
    """Base of the three extractors: a client, a warehouse, a run id, and `close()`."""

    client: Any
    wh: Any
    run_id: str

    def close(self) -> None:
        """Release the client (an HTTP session or pool); subclasses release theirs first."""
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
