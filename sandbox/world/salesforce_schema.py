"""The Salesforce org the sandbox simulates: standard objects plus this company's custom fields.

Both the world generator (which fills the records) and the Salesforce stand-in (which serves
`describe`, validates writes and answers SOQL) read these definitions, so the org has one shape.
Field types use Salesforce's `describe` type names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sandbox.world.profiles import UNMAPPED_STATUS, Profile


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # id, string, textarea, picklist, email, phone, url, reference, currency,
    # double, int, percent, boolean, date, datetime
    length: int = 0  # for text types
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    precision: int = 0
    scale: int = 0


def _system_fields() -> list[Field]:
    ro = {"createable": False, "updateable": False}
    return [
        Field("Id", "id", 18, nillable=False, **ro),
        Field("IsDeleted", "boolean", nillable=False, **ro),
        Field("CreatedDate", "datetime", nillable=False, **ro),
        Field(
            "CreatedById",
            "reference",
            18,
            nillable=False,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **ro,
        ),
        Field("LastModifiedDate", "datetime", nillable=False, **ro),
        Field(
            "LastModifiedById",
            "reference",
            18,
            nillable=False,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            **ro,
        ),
        Field("SystemModstamp", "datetime", nillable=False, **ro),
    ]


def _owner() -> Field:
    return Field("OwnerId", "reference", 18, reference_to=("User",), relationship_name="Owner")


def _account_ref(nillable: bool = True) -> Field:
    return Field(
        "AccountId",
        "reference",
        18,
        nillable=nillable,
        reference_to=("Account",),
        relationship_name="Account",
    )


BILLING_STATUSES = ("active", "trialing", "past_due", "canceled", "unpaid", "none")

SOBJECTS: dict[str, list[Field]] = {
    "User": [
        *_system_fields(),
        Field("Username", "string", 80, nillable=False),
        Field("Name", "string", 121, createable=False, updateable=False),
        Field("FirstName", "string", 40),
        Field("LastName", "string", 80, nillable=False),
        Field("Email", "email", 128, nillable=False),
        Field("IsActive", "boolean", nillable=False),
        Field("UserType", "picklist", 40, picklist=("Standard", "AutomatedProcess")),
    ],
    "Account": [
        *_system_fields(),
        _owner(),
        Field("Name", "string", 255, nillable=False),
        Field("Type", "picklist", 40, picklist=("Customer", "Prospect", "Partner")),
        Field("Industry", "picklist", 40),
        Field("BillingStreet", "textarea", 255),
        Field("BillingCity", "string", 40),
        Field("BillingPostalCode", "string", 20),
        Field("BillingCountry", "string", 80),
        Field("Phone", "phone", 40),
        Field("Website", "url", 255),
        # this company's custom fields; the ownership contract maps them
        Field(
            "Billing_Customer_Id__c",
            "string",
            255,
            custom=True,
            external_id=True,
            unique=True,
        ),
        Field("MRR__c", "currency", custom=True, precision=16, scale=2),
        Field("ARR__c", "currency", custom=True, precision=16, scale=2),
        Field("Billing_Status__c", "picklist", 40, custom=True, picklist=BILLING_STATUSES),
        Field("Last_Payment_Date__c", "date", custom=True),
        Field("Payout_Hold_Reason__c", "string", 255, custom=True),
        Field("CurrencyIsoCode", "picklist", 3, picklist=("USD", "EUR", "GBP")),
    ],
    "Contact": [
        *_system_fields(),
        _owner(),
        _account_ref(),
        Field("FirstName", "string", 40),
        Field("LastName", "string", 80, nillable=False),
        Field("Email", "email", 80),
        Field("Phone", "phone", 40),
        Field("MailingStreet", "textarea", 255),
        Field("MailingCity", "string", 40),
        Field("MailingCountry", "string", 80),
        Field("Title", "string", 128),
    ],
    "Opportunity": [
        *_system_fields(),
        _owner(),
        _account_ref(),
        Field("Name", "string", 120, nillable=False),
        Field(
            "StageName",
            "picklist",
            255,
            nillable=False,
            picklist=(
                "Prospecting",
                "Qualification",
                "Proposal/Price Quote",
                "Negotiation/Review",
                "Closed Won",
                "Closed Lost",
            ),
        ),
        Field("Amount", "currency", precision=18, scale=2),
        Field("CloseDate", "date", nillable=False),
        Field("IsClosed", "boolean", nillable=False, createable=False, updateable=False),
        Field("IsWon", "boolean", nillable=False, createable=False, updateable=False),
        Field("CurrencyIsoCode", "picklist", 3, picklist=("USD", "EUR", "GBP")),
        Field("Billing_Subscription_Id__c", "string", 255, custom=True, external_id=True),
        # q2c's renewal automation: `<subscription id>:<period end>`, one Opportunity a period
        Field("Renewal_Key__c", "string", 255, custom=True, external_id=True, unique=True),
    ],
    "Case": [
        *_system_fields(),
        _owner(),
        _account_ref(),
        Field("CaseNumber", "string", 30, createable=False, updateable=False),
        Field("Subject", "string", 255),
        Field("Description", "textarea", 32000),
        Field(
            "Status",
            "picklist",
            40,
            picklist=("New", "Working", "Escalated", "Closed"),
        ),
        Field("Priority", "picklist", 40, picklist=("Low", "Medium", "High")),
        Field("Origin", "picklist", 40, picklist=("Email", "Phone", "Web")),
        Field("IsClosed", "boolean", nillable=False, createable=False, updateable=False),
        Field("Billing_Priority_Flag__c", "boolean", nillable=False, custom=True),
    ],
}

#: Salesforce's 3-character key prefix of each object's ids.
KEY_PREFIXES: dict[str, str] = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Case": "500",
}

#: The user the pipeline logs in as; its writes are told apart from people's edits by this id.
INTEGRATION_USER_USERNAME = "integration@q2c.example"


def sobjects_for(profile: Profile) -> dict[str, list[Field]]:
    """The org of `profile`: its custom field names and picklist values (labels)."""
    if profile.is_default:
        return SOBJECTS
    out: dict[str, list[Field]] = {}
    for sobject, fields in SOBJECTS.items():
        renames = profile.crm_field_names.get(sobject, {})
        labels = profile.labels.get(sobject, {})
        mine = []
        for f in fields:
            changes: dict[str, object] = {}
            if f.name in renames:
                changes["name"] = renames[f.name]
            if f.name in labels:
                values = [v for v in labels[f.name].values() if v is not None]
                if f.name == "Billing_Status__c":
                    values.append(UNMAPPED_STATUS)  # a value an admin added for an old plan
                changes["picklist"] = tuple(values)
            mine.append(replace(f, **changes) if changes else f)
        out[sobject] = mine
    return out
