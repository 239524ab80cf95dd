"""Where the dbt documentation page lives (`q2c docs` writes it) and the address of one node's
page in it, which the Dagster asset catalog shows on every dbt asset (`dbt_docs` metadata)."""

from __future__ import annotations

from pathlib import Path

from q2c.settings import load_settings

PAGE = "index.html"
#: dbt-docs routes a node's page by resource type and unique id (hash routing, prefix `!`)
DOCS_ROUTES = ("model", "seed", "snapshot", "source")


def docs_dir() -> Path:
    """Where `q2c docs` writes the page by default (`$Q2C_HOME/docs`)."""
    return load_settings().home / "docs"


def docs_url(unique_id: str, directory: Path | None = None) -> str | None:
    """The `file://` address of a dbt node's page in the generated docs, or None for a node
    type the docs site has no page for (`model.q2c.dim_accounts` -> `...#!/model/...`)."""
    kind = unique_id.split(".", 1)[0]
    if kind not in DOCS_ROUTES:
        return None
    page = (directory or docs_dir()).absolute() / PAGE
    return f"{page.as_uri()}#!/{kind}/{unique_id}"
