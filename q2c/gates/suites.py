"""Great Expectations suites, one per outgoing flow, built from the ownership contract.

Contract:
- `build_suite(flow, contract, previous_rows)` returns the flow's `ExpectationSuite`; every
  expectation carries `meta["check"]` (what it proves, in words) and, for the few columns whose
  values are not personal data (field API names, currencies, entry kinds), `meta["show"]`, so
  a reason may name the offending values; otherwise reasons give counts only.
- The suite runs on `prepare_batch(flow, batch)`: a copy of the outgoing rows with derived
  per-row columns (`gate__...`) for the checks a single row cannot express (an entry's
  debit - credit, its number of currencies); the caller's frame is not changed.
- `validate(flow, batch, contract, previous_rows, out_dir)` runs the suite in an ephemeral
  context (nothing written to a GE project), keeps the result as JSON (and Data Docs HTML) in
  `out_dir`, and returns the validation id and the failures in words.
- ERP export batches: the rows of `exports.export_erp_journal_lines`. CRM batches: rows of
  `sync.sync_salesforce_account_fields` / `sync.sync_salesforce_case_fields` (one row per
  record and field API name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.expectation_suite import ExpectationSuite

    from q2c.policy.model import Contract

INTEGER_TYPES = ["int64", "Int64", "int32", "Int32", "int"]
#: text columns each flow must carry, then integer columns, then its unique row id
ERP_TEXT = ["external_id", "line_external_id", "source_ref", "currency", "account"]
ERP_TEXT += ["entry_kind", "currency_code", "account_role"]
ERP_INTEGER = ["debit_minor", "credit_minor"]
#: the entry kinds export_erp_journal_lines posts (its accepted_values on entry_kind)
ERP_ENTRY_KINDS = ["invoice", "payment", "fee", "refund", "payout", "payout_reversal"]
ERP_ENTRY_KINDS += ["dispute", "dispute_won", "transfer", "transfer_reversal", "fx_from", "fx_to"]
CRM_TEXT = {
    "crm_account_sync": ["account_field_id", "account_id", "match_on", "field_api_name"],
    "crm_case_sync": ["case_field_id", "case_id", "match_on", "field_api_name"],
}
CRM_TEXT["automations"] = CRM_TEXT["crm_case_sync"]
ROW_ID = {
    "erp_export": "line_external_id",
    "crm_account_sync": "account_field_id",
    "crm_case_sync": "case_field_id",
    "automations": "case_field_id",
}
IMBALANCE = "gate__entry_imbalance_minor"
ENTRY_CURRENCIES = "gate__entry_currency_count"


@dataclass(frozen=True)
class SuiteOutcome:
    """What the suite said about one batch."""

    validation_id: str
    success: bool
    failures: tuple[str, ...]
    row_count: int
    result_path: Path | None


def prepare_batch(flow: str, batch: pd.DataFrame) -> pd.DataFrame:
    """A copy of `batch` with the derived columns the flow's suite checks."""
    frame = batch.copy()
    if flow == "erp_export" and {"external_id", "debit_minor", "credit_minor"} <= set(frame):
        signed = frame["debit_minor"].astype("int64") - frame["credit_minor"].astype("int64")
        frame[IMBALANCE] = signed.groupby(frame["external_id"]).transform("sum")
        if "currency" in frame:
            frame[ENTRY_CURRENCIES] = frame.groupby("external_id")["currency"].transform("nunique")
    return frame


def write_set_fields(contract: Contract, rollout_flow: str) -> tuple[list[str], list[str]]:
    """(field API names, match_on fields) the contract lets `rollout_flow` write: its
    write-back targets', or those the automation classes of that flow name."""
    targets = [(t.fields, t.match_on) for t in contract.writeback.targets if t.flow == rollout_flow]
    targets += [
        (a.fields, a.match_on)
        for a in contract.automations.values()
        if a.rollout_flow == rollout_flow and a.match_on
    ]
    return (
        sorted({f for fields, _ in targets for f in fields}),
        sorted({match_on for _, match_on in targets}),
    )


def erp_currencies(contract: Contract) -> list[str]:
    """Currencies the ERP can book end to end: those with a bank account in the contract."""
    return sorted(
        {a.currency for a in contract.erp.chart_of_accounts.values() if a.currency is not None}
    )


def build_suite(flow: str, contract: Contract, previous_rows: int | None) -> ExpectationSuite:
    """The flow's suite from the contract (`output_gates.<flow>`, write set, chart of accounts).

    Args:
        flow: one of `q2c.gates.FLOWS`.
        contract: the ownership contract.
        previous_rows: rows of the flow's last passed batch (None: no row-count bound).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    gate = contract.output_gates[flow]
    suite = gx.ExpectationSuite(name=f"q2c_gate_{flow}")

    def add(expectation: Any, check: str, *, show: bool = False) -> None:
        expectation.meta = {"check": check, "show": show}
        suite.add_expectation(expectation)

    text = ERP_TEXT if flow == "erp_export" else CRM_TEXT[flow]
    integers = ERP_INTEGER if flow == "erp_export" else []
    for column in [*text, *integers]:
        add(gxe.ExpectColumnToExist(column=column), f"required column {column}")
        add(gxe.ExpectColumnValuesToNotBeNull(column=column), f"{column} is set on every row")
    for column in text:
        add(gxe.ExpectColumnValuesToBeOfType(column=column, type_="str"), f"{column} is text")
    for column in integers:
        add(
            gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=INTEGER_TYPES),
            f"{column} is an integer amount in minor units",
        )
        add(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=0, max_value=gate.max_amount_minor
            ),
            f"{column} between 0 and the contract's max_amount_minor ({gate.max_amount_minor})",
        )
    row_id = ROW_ID[flow]
    add(gxe.ExpectColumnValuesToBeUnique(column=row_id), f"{row_id} unique")

    if flow == "erp_export":
        currencies = erp_currencies(contract)
        add(
            gxe.ExpectColumnValuesToBeInSet(column="currency_code", value_set=currencies),
            "currency_code is one the ERP banks (contract chart of accounts)",
            show=True,
        )
        add(
            gxe.ExpectColumnValuesToBeInSet(
                column="currency", value_set=[c.upper() for c in currencies]
            ),
            "currency is an uppercase ISO code the ERP banks",
            show=True,
        )
        numbers = sorted({a.acctnumber for a in contract.erp.chart_of_accounts.values()})
        add(
            gxe.ExpectColumnValuesToBeInSet(column="account", value_set=numbers),
            "account is a GL number of the contract's chart of accounts",
            show=True,
        )
        add(
            gxe.ExpectColumnValuesToBeInSet(column="entry_kind", value_set=ERP_ENTRY_KINDS),
            "entry_kind is a kind the export posts",
            show=True,
        )
        add(
            gxe.ExpectColumnValuesToBeBetween(column=IMBALANCE, min_value=0, max_value=0),
            "every journal entry balances (debits = credits in minor units)",
        )
        add(
            gxe.ExpectColumnValuesToBeBetween(column=ENTRY_CURRENCIES, min_value=1, max_value=1),
            "every journal entry has one currency",
        )
    else:
        fields, match_on = write_set_fields(contract, gate.rollout_flow)
        add(
            gxe.ExpectColumnValuesToBeInSet(column="field_api_name", value_set=fields),
            f"field_api_name is in the write set of {gate.rollout_flow}",
            show=True,
        )
        add(
            gxe.ExpectColumnValuesToBeInSet(column="match_on", value_set=match_on),
            f"match_on is the contract's match field of {gate.rollout_flow}",
            show=True,
        )

    if previous_rows is not None and gate.max_rows_vs_previous_pct is not None:
        limit = max(gate.row_count_floor, previous_rows * gate.max_rows_vs_previous_pct // 100)
        add(
            gxe.ExpectTableRowCountToBeBetween(min_value=0, max_value=limit),
            f"at most {limit} rows ({gate.max_rows_vs_previous_pct}% of the previous batch's "
            f"{previous_rows}, or {gate.row_count_floor})",
        )
    return suite


def describe_failures(result: ExpectationSuiteValidationResult) -> tuple[str, ...]:
    """Each failed expectation in words: its check, and counts (values only where shown)."""
    failures = []
    for item in result.results:
        if item.success:
            continue
        meta = item.expectation_config.meta or {}
        check = meta.get("check") or item.expectation_config.type
        detail = item.result or {}
        if item.exception_info and item.exception_info.get("raised_exception"):
            failures.append(f"{check}: could not be checked ({item.expectation_config.type})")
            continue
        if "unexpected_count" in detail:
            text = f"{check}: {detail['unexpected_count']} of {detail.get('element_count')} rows"
            if meta.get("show"):
                values = sorted({str(v) for v in detail.get("partial_unexpected_list") or []})
                text += f" ({', '.join(values[:10])})"
        elif "observed_value" in detail:
            # table-level results: a row count or a dtype name, never a row's value
            text = f"{check}: observed {detail['observed_value']}"
        else:
            text = f"{check}: failed"
        failures.append(text)
    return tuple(failures)


def validate(
    flow: str,
    batch: pd.DataFrame,
    contract: Contract,
    *,
    previous_rows: int | None,
    out_dir: Path | None,
) -> SuiteOutcome:
    """Validate `batch` against the flow's suite; keep the result under `out_dir`.

    Returns:
        The validation id, success, failures in words, row count and the JSON result's path.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("q2c")
        .add_dataframe_asset(f"{flow}_batch")
        .add_batch_definition_whole_dataframe("outgoing")
    )
    suite = context.suites.add(build_suite(flow, contract, previous_rows))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"q2c_gate_{flow}", data=batch_definition, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": prepare_batch(flow, batch)}, result_format="SUMMARY"
    )
    validation_id = str(result.meta.get("validation_id") or result.id)
    path = _keep(result, out_dir, flow) if out_dir is not None else None
    return SuiteOutcome(
        validation_id=validation_id,
        success=bool(result.success),
        failures=describe_failures(result),
        row_count=len(batch),
        result_path=path,
    )


def _keep(result: ExpectationSuiteValidationResult, out_dir: Path, flow: str) -> Path:
    """Write the validation result as JSON and as a Data Docs page for the evidence pack."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{flow}.json"
    path.write_text(json.dumps(result.to_json_dict(), indent=2, default=str), encoding="utf-8")
    page = ValidationResultsPageRenderer().render(result)
    (out_dir / f"{flow}.html").write_text(DefaultJinjaPageView().render(page), encoding="utf-8")
    return path
