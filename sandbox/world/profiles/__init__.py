"""World profiles: how the simulated company's systems are set up, beside what it does.

The `default` profile is the org q2c's shipped contract (`policy/ownership.yml`) describes: the
CRM stores billing words (`past_due`), every deal names its subscription and every subscription
its deal, the integration posts every ERP transaction with the billing id as external id, the
chart of accounts has the contract's numbers and SuiteQL answers dates as `YYYY-MM-DD`.

The `messy` profile is the same business (same seed: same companies, invoices and payments)
set up the way real orgs are, with its own contract (`sandbox/world/profiles/
messy_ownership.yml`):

- CRM picklists hold the org's labels (`Past Due`, `Cancelled`, `5 - Closed Won`,
  `P1 - High`), some records in another case or with stray spaces (typed in by an import with
  the picklist unrestricted), and a few accounts with a label no map names (`Legacy Plan`);
- every custom field has this org's name (`Subscription_Status__c`, `Current_MRR__c`,
  `Billing_Escalation__c`, ...); the link fields are `Stripe_Customer__c` and
  `Stripe_Subscription__c`, with billing metadata `sfdc_account_id` and
  `sfdc_opportunity_id` (a quarter of them holding the 15-character form of the Salesforce
  id), and for part of the book the deal and the subscription name each other nowhere: only
  the account links them;
- some won deals are not billed yet (a `Customer` account without a billing customer);
- finance hand-keys some invoices in the ERP without an external id (a NetSuite number or the
  billing invoice number as document number, the invoice id in the memo or not), some of them
  a second posting of an invoice the integration already posted; half the payments of
  invoices keyed by hand are keyed by hand too; a few hand-keyed lines hit a GL account the
  contract does not map;
- the ERP's internal ids are sparse integers (other transaction types share the sequences),
  its chart of accounts has other numbers, and its SuiteQL date preference is `D.M.YYYY`.

Every injected difference is in `truth.sqlite`: reconciliation breaks in `discrepancies`,
data-quality problems (what the input checks must report) in `dq_problems`, and the mess that
is neither (a hand-keyed posting that is the invoice's or payment's only posting, a deal
linked only through its account, a link holding a 15-character id) in `mess`, so a miss can be
traced to its cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parent

# chart of accounts: key -> (internal id, number, name, type); the keys are the ledger's roles
DEFAULT_CHART: dict[str, tuple[int, str, str, str]] = {
    "bank_usd": (1, "1000", "Operating Bank USD", "Bank"),
    "bank_eur": (2, "1010", "Operating Bank EUR", "Bank"),
    "bank_gbp": (3, "1020", "Operating Bank GBP", "Bank"),
    "ar": (4, "1200", "Accounts Receivable", "AcctRec"),
    "clearing": (5, "1300", "Stripe Clearing", "OthCurrAsset"),
    "tax": (6, "2200", "Sales Tax and VAT Payable", "OthCurrLiab"),
    "deferred": (7, "2300", "Deferred Revenue", "OthCurrLiab"),
    "revenue": (8, "4000", "Subscription Revenue", "Income"),
    "services": (9, "4100", "Services Revenue", "Income"),
    "fees": (10, "6100", "Payment Processing Fees", "Expense"),
    "commissions": (11, "6200", "Partner Commissions", "Expense"),
    # a charge settled in another currency passes through it (the export's fx entries)
    "fx_clearing": (12, "1310", "Currency Conversion Clearing", "OthCurrAsset"),
}

MESSY_CHART: dict[str, tuple[int, str, str, str]] = {
    "bank_usd": (112, "10100", "JPM Chase Operating (USD)", "Bank"),
    "bank_eur": (118, "10150", "ING Operating (EUR)", "Bank"),
    "bank_gbp": (121, "10170", "Barclays Operating (GBP)", "Bank"),
    "ar": (216, "11000", "Trade Debtors", "AcctRec"),
    "clearing": (233, "11550", "Stripe Settlement Clearing", "OthCurrAsset"),
    "tax": (419, "21500", "VAT and Sales Tax Control", "OthCurrLiab"),
    "deferred": (431, "24000", "Contract Liabilities", "OthCurrLiab"),
    "revenue": (604, "40100", "SaaS Subscriptions", "Income"),
    "services": (611, "40200", "Professional Services", "Income"),
    "fees": (852, "60450", "Merchant Fees", "Expense"),
    "commissions": (857, "60500", "Reseller Commissions", "Expense"),
    # accounts every real chart has that no q2c posting uses, and the one a hand-keyed line
    # sometimes hits by mistake (not in the contract's map: a data-quality problem)
    "undeposited": (240, "11900", "Undeposited Funds", "OthCurrAsset"),
    "payroll": (870, "61000", "Salaries and Wages", "Expense"),
    "misc_income": (690, "49000", "Other Income", "Income"),
}


def _frozen(d: dict[str, Any]) -> MappingProxyType:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Profile:
    """How the company's systems are set up (see the module docstring).

    Attributes:
        name: the profile's name (`default`, `messy`).
        crm_field_names: sobject -> the shipped org's custom field name -> this org's name
            (only those that differ).
        customer_account_key: the billing customer's metadata key naming the Account.
        subscription_opportunity_key: the subscription's metadata key naming the deal.
        labels: sobject -> field -> q2c's stored value -> the org's label (None: left blank).
        variant_share: share of labelled picklist values stored in another case or spacing.
        unmapped_status_share: share of linked customers whose Account status holds
            `UNMAPPED_STATUS`.
        account_only_link_share: share of linked deals and subscriptions naming each other
            nowhere (matched through the account).
        won_not_billed_share: share of prospects that are won deals not billed yet.
        short_id_share: share of billing metadata links holding the CRM record's
            15-character id instead of its 18-character one.
        hand_keyed_share: share of cleanly posted invoices finance keyed by hand instead.
        hand_keyed_duplicate_share: share of cleanly posted invoices keyed a second time by hand.
        misposted_share: share of hand-keyed invoices whose income line hit `misc_income`.
        chart: the ERP chart of accounts.
        erp_first_customer: the first ERP customer internal id.
        erp_first_transaction: the first ERP transaction internal id.
        erp_sparse_ids: internal ids skip numbers (other record types share the sequence).
        erp_date_format: SuiteQL's date preference (None: the stand-in's `YYYY-MM-DD`).
        contract: the company's ownership contract file (None: `policy/ownership.yml`).
    """

    name: str
    crm_field_names: MappingProxyType = field(default_factory=lambda: _frozen({}))
    customer_account_key: str = "salesforce_account_id"
    subscription_opportunity_key: str = "salesforce_opportunity_id"
    labels: MappingProxyType = field(default_factory=lambda: _frozen({}))
    variant_share: float = 0.0
    unmapped_status_share: float = 0.0
    account_only_link_share: float = 0.0
    won_not_billed_share: float = 0.0
    short_id_share: float = 0.0
    hand_keyed_share: float = 0.0
    hand_keyed_duplicate_share: float = 0.0
    misposted_share: float = 0.0
    chart: MappingProxyType = field(default_factory=lambda: _frozen(DEFAULT_CHART))
    erp_first_customer: int = 1
    erp_first_transaction: int = 1
    erp_sparse_ids: bool = False
    erp_date_format: str | None = None
    contract: Path | None = None

    @property
    def is_default(self) -> bool:
        """Whether this is the shipped org (the generator then writes exactly today's world)."""
        return self.name == "default"

    def crm_field(self, sobject: str, name: str) -> str:
        """This org's API name of the shipped org's field `sobject.name`."""
        return self.crm_field_names.get(sobject, {}).get(name, name)

    @property
    def account_customer_field(self) -> str:
        """The Account field naming the billing customer."""
        return self.crm_field("Account", "Billing_Customer_Id__c")

    @property
    def opportunity_subscription_field(self) -> str:
        """The Opportunity field naming the subscription."""
        return self.crm_field("Opportunity", "Billing_Subscription_Id__c")

    def erp_next_id(self, current: int) -> int:
        """The internal id after `current` (sparse: a deterministic gap of 1 to 5)."""
        if not self.erp_sparse_ids:
            return current + 1
        return current + 1 + (current * 2_654_435_761 >> 7) % 5


#: the status a few messy accounts hold that no value map names (a leftover of an old plan)
UNMAPPED_STATUS = "Legacy Plan"

DEFAULT = Profile("default")

MESSY = Profile(
    "messy",
    crm_field_names=_frozen(
        {
            "Account": {
                "Billing_Customer_Id__c": "Stripe_Customer__c",
                "Billing_Status__c": "Subscription_Status__c",
                "MRR__c": "Current_MRR__c",
                "ARR__c": "Current_ARR__c",
                "Last_Payment_Date__c": "Last_Payment_Received__c",
                "Payout_Hold_Reason__c": "Partner_Payout_Hold__c",
            },
            "Opportunity": {"Billing_Subscription_Id__c": "Stripe_Subscription__c"},
            "Case": {"Billing_Priority_Flag__c": "Billing_Escalation__c"},
        }
    ),
    customer_account_key="sfdc_account_id",
    subscription_opportunity_key="sfdc_opportunity_id",
    labels=_frozen(
        {
            "Account": {
                "Billing_Status__c": {
                    "active": "Active",
                    "trialing": "Trialing",
                    "past_due": "Past Due",
                    "canceled": "Cancelled",
                    "unpaid": "Unpaid",
                    "none": None,
                },
            },
            "Opportunity": {
                "StageName": {
                    "Prospecting": "1 - Prospecting",
                    "Qualification": "2 - Qualification",
                    "Proposal/Price Quote": "3 - Proposal",
                    "Negotiation/Review": "4 - Negotiation",
                    "Closed Won": "5 - Closed Won",
                    "Closed Lost": "6 - Closed Lost",
                },
            },
            "Case": {
                "Status": {
                    "New": "New",
                    "Working": "In Progress",
                    "Escalated": "Escalated",
                    "Closed": "Closed",
                },
                "Priority": {"High": "P1 - High", "Medium": "P2 - Medium", "Low": "P3 - Low"},
            },
        }
    ),
    variant_share=0.04,
    unmapped_status_share=0.015,
    account_only_link_share=0.4,
    won_not_billed_share=0.1,
    short_id_share=0.25,
    hand_keyed_share=0.03,
    hand_keyed_duplicate_share=0.008,
    misposted_share=0.15,
    chart=_frozen(MESSY_CHART),
    erp_first_customer=4_211,
    erp_first_transaction=1_052_871,
    erp_sparse_ids=True,
    erp_date_format="D.M.YYYY",
    contract=PROFILE_DIR / "messy_ownership.yml",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DEFAULT, MESSY)}


def resolve_profile(profile: str | Profile) -> Profile:
    """The `Profile` named `profile` (or `profile` itself).

    Raises:
        ValueError: an unknown profile name.
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(
            f"unknown world profile {profile!r}; choose one of {sorted(PROFILES)}"
        ) from None


def profile_of_world(world_dir: Path) -> Profile:
    """The profile a world was generated with (`meta.profile`; `default` when absent).

    Reads the first of the world's files that exists (a stand-in may serve only some).
    """
    import sqlite3

    for name in ("salesforce", "erp", "billing", "truth"):
        path = Path(world_dir) / f"{name}.sqlite"
        if path.exists():
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'profile'").fetchone()
            finally:
                con.close()
            return resolve_profile(row[0] if row else "default")
    return DEFAULT
