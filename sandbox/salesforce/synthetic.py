"""A hand-built `salesforce.sqlite` in the layout of docs/INTERFACES.md section 1, for the
stand-in's own tests and benchmark when no generated world is at hand.

Not the world generator: no links to billing or the ERP, no truth tables. It writes users
(the integration user first), accounts, contacts, opportunities and cases with every field of
`salesforce_schema`, deterministic for a given `n_accounts`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.salesforce.org import ORG, id18
from sandbox.salesforce.query_plan import sf_datetime
from sandbox.world.salesforce_schema import INTEGRATION_USER_USERNAME

NOW = datetime(2026, 11, 1, tzinfo=UTC)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_STAGES = ("Prospecting", "Qualification", "Negotiation/Review", "Closed Won", "Closed Lost")
_STATUSES = ("active", "trialing", "past_due", "canceled", "unpaid", "none")


def _id(prefix: str, n: int) -> str:
    digits = ""
    for _ in range(6):
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    return id18(prefix + "5y0000" + digits)


def _stamp(i: int) -> str:
    return sf_datetime(NOW - timedelta(minutes=7 * i + 3))


def _system(obj: str, rid: str, i: int, user: str) -> dict[str, Any]:
    created = sf_datetime(NOW - timedelta(days=400) + timedelta(minutes=i))
    return {
        "Id": rid,
        "IsDeleted": False,
        "CreatedDate": created,
        "CreatedById": user,
        "LastModifiedDate": _stamp(i),
        "LastModifiedById": user,
        "SystemModstamp": _stamp(i),
    }


def write_world(
    world_dir: Path, n_accounts: int = 50, *, deleted_every: int = 10
) -> dict[str, int]:
    """Write `world_dir/salesforce.sqlite`; returns record counts by sobject (all rows).

    Every `deleted_every`-th account is soft-deleted (`IsDeleted`), so `query` and `queryAll`
    differ.
    """
    world_dir.mkdir(parents=True, exist_ok=True)
    path = world_dir / "salesforce.sqlite"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE records(sobject TEXT NOT NULL, id TEXT PRIMARY KEY,
                             system_modstamp TEXT NOT NULL, is_deleted INTEGER NOT NULL,
                             body TEXT NOT NULL);
        CREATE INDEX records_modstamp ON records(sobject, system_modstamp);
        """
    )
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("seed", "7"), ("scale", "synthetic"), ("now", str(int(NOW.timestamp())))],
    )
    rows: list[tuple[str, str, str, int, str]] = []

    def add(obj: str, body: dict[str, Any]) -> None:
        full = {f.name: None for f in ORG.get(obj).fields}  # type: ignore[union-attr]
        full.update(body)
        rows.append((obj, full["Id"], full["SystemModstamp"], int(full["IsDeleted"]),
                     json.dumps(full, separators=(",", ":"))))  # fmt: skip

    integration = _id("005", 0)
    people = [_id("005", k) for k in range(1, 4)]
    add("User", {**_system("User", integration, 0, integration), "Username":
        INTEGRATION_USER_USERNAME, "Name": "Integration User", "LastName": "User",
        "FirstName": "Integration", "Email": INTEGRATION_USER_USERNAME, "IsActive": True,
        "UserType": "Standard"})  # fmt: skip
    for k, uid in enumerate(people, start=1):
        add("User", {**_system("User", uid, k, integration), "Username": f"rep{k}@q2c.example",
            "Name": f"Rep {k}", "FirstName": "Rep", "LastName": str(k),
            "Email": f"rep{k}@q2c.example", "IsActive": True, "UserType": "Standard"})  # fmt: skip
    case_no = 0
    for i in range(n_accounts):
        owner = people[i % len(people)]
        aid = _id("001", i)
        deleted = deleted_every > 0 and i % deleted_every == deleted_every - 1
        account = {
            **_system("Account", aid, i, owner),
            "OwnerId": owner,
            "Name": f"Company {i:06d}",
            "Type": "Customer" if i % 3 else "Prospect",
            "Industry": ("Software", "Retail", None)[i % 3],
            "BillingStreet": f"{i} Main St",
            "BillingCity": ("Berlin", "London", "Austin")[i % 3],
            "BillingPostalCode": f"{10000 + i}",
            "BillingCountry": ("DE", "GB", "US")[i % 3],
            "Phone": f"+1 555 {i:07d}",
            "Website": f"https://company{i}.example",
            "Billing_Customer_Id__c": f"cus_{i:014d}",
            "MRR__c": round((i % 97) * 10.5, 2),
            "ARR__c": round((i % 97) * 126.0, 2),
            "Billing_Status__c": _STATUSES[i % len(_STATUSES)],
            "Last_Payment_Date__c": (NOW.date() - timedelta(days=i % 60)).isoformat(),
            "Payout_Hold_Reason__c": None,
            "CurrencyIsoCode": ("USD", "EUR", "GBP")[i % 3],
            "IsDeleted": deleted,
        }
        add("Account", account)
        add("Contact", {**_system("Contact", _id("003", i), i, owner), "OwnerId": owner,
            "AccountId": aid, "FirstName": "Pat", "LastName": f"Buyer{i}",
            "Email": f"pat{i}@company{i}.example", "Phone": None, "MailingStreet": None,
            "MailingCity": account["BillingCity"], "MailingCountry": account["BillingCountry"],
            "Title": "CFO"})  # fmt: skip
        stage = _STAGES[i % len(_STAGES)]
        add("Opportunity", {**_system("Opportunity", _id("006", i), i, owner), "OwnerId": owner,
            "AccountId": aid, "Name": f"Company {i:06d} - renewal", "StageName": stage,
            "Amount": float(1000 + i % 500) + 0.5, "CloseDate": (NOW.date() + timedelta(
                days=i % 90)).isoformat(), "IsClosed": stage.startswith("Closed"),
            "IsWon": stage == "Closed Won", "CurrencyIsoCode": account["CurrencyIsoCode"],
            "Billing_Subscription_Id__c": f"sub_{i:014d}" if stage == "Closed Won" else None,
            })  # fmt: skip
        if i % 4 == 0:
            case_no += 1
            add("Case", {**_system("Case", _id("500", i), i, owner), "OwnerId": owner,
                "AccountId": aid, "CaseNumber": f"{case_no:08d}", "Subject": f"Invoice {i}",
                "Description": "Customer asks about an invoice.", "Status": "New",
                "Priority": "Medium", "Origin": "Email", "IsClosed": False,
                "Billing_Priority_Flag__c": i % 8 == 0})  # fmt: skip
    conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    counts = dict(conn.execute("SELECT sobject, count(*) FROM records GROUP BY sobject").fetchall())
    conn.close()
    return counts
