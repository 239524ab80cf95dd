"""`q2c docs`: dbt's documentation as one static page, built against the S world's DuckDB (the
session's shared build), opened in headless Chromium on a model's page: its description with
the grain, its columns and their tests, and its lineage are rendered. The Dagster asset catalog
links every dbt model to its page (`dbt_docs` metadata)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.docs_links import docs_url
from tests.support.browser import chromium, needs_chromium, visible_text
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration

MODEL = "model.q2c.dim_accounts"


@pytest.fixture(scope="module")
def page(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = s_duckdb(world_s, tmp_path_factory)
    out = tmp_path_factory.mktemp("dbt_docs")
    result = CliRunner().invoke(
        app, ["docs", "--out", str(out), "--json"], env={"Q2C_WAREHOUSE_URL": f"duckdb:///{db}"}
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["path"] == str(out / "index.html")
    assert outcome["nodes"]["model"] >= 40 and outcome["nodes"]["source"] >= 20, outcome
    return Path(outcome["path"])


def test_the_page_is_self_contained(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert len(html) > 1_000_000  # manifest and catalog are inlined
    assert not re.search(r"""<script[^>]+src=["']https?:""", html)
    assert '"model.q2c.dim_accounts"' in html


@needs_chromium
def test_a_models_page_shows_description_grain_columns_tests_and_lineage(
    page: Path, tmp_path: Path
) -> None:
    url = f"{page.as_uri()}#!/model/{MODEL}"
    dom = chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", url).stdout
    assert re.search(r"<h1>\s*<span[^>]*>dim_accounts</span>", dom), dom[-2000:]
    text = visible_text(dom)
    assert "Customer accounts (CRM) with their billing customer" in text
    assert "Grain: one row per Salesforce account." in text
    assert "billing_customer_id" in text and "Salesforce Account Id." in text
    assert "Unique" in text and "Not Null" in text  # the column's data tests
    assert "Depends On" in text and "stg_salesforce__accounts" in text  # lineage


def test_the_asset_catalog_links_each_dbt_model_to_its_page() -> None:
    from orchestration.assets.dbt import q2c_dbt_models

    linked = {
        key.to_user_string(): spec.metadata.get("dbt_docs")
        for key, spec in ((s.key, s) for s in q2c_dbt_models.specs)
    }
    assert linked["marts/dim_accounts"].url == docs_url(MODEL)
    assert docs_url(MODEL).endswith(f"/docs/index.html#!/model/{MODEL}")
    missing = [k for k, v in linked.items() if v is None and not k.startswith("raw/")]
    assert not missing, missing[:10]
