"""Synthetic ERP data for tests, demos and benchmarks of the projection.

All names, addresses and e-mail addresses are invented. ``change`` and ``delete``
build :class:`RowChange` values the way the CDC decoder does; ``random_dataset``
builds a consistent ERP with every case the rules distinguish (selected and
unselected properties, ended management, phantom and ended units, tenants with and
without e-mail, co-tenants, anonymized persons, future, current, in-grace and ended
contracts, persons of several types and none, shared e-mail addresses, owners and
caretakers, staff users active and not, with rights on properties and in teams; documents and
tickets of every kind the R16–R19 rules distinguish).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from streams.cdc.model import Row, RowChange, SourcePosition
from streams.erp.schema import TABLES

_lsn = itertools.count(1)


def change(table: str, row: Row, op: str = "c", before: Row | None = None) -> RowChange:
    """A create/read/update change carrying the full row."""
    key = tuple(row[c] for c in TABLES[table].primary_key)
    return RowChange(table=table, op=op, before=before, after=row, key=key,
                     position=SourcePosition(connector="postgresql", lsn=next(_lsn)))


def delete(table: str, row: Row) -> RowChange:
    """A delete change; ``before`` holds only the key, as PostgreSQL's default replica identity."""
    pk = TABLES[table].primary_key
    key = tuple(row[c] for c in pk)
    return RowChange(table=table, op="d", before={c: row[c] for c in pk}, after=None, key=key,
                     position=SourcePosition(connector="postgresql", lsn=next(_lsn)))


@dataclass
class Dataset:
    """Rows per table as plain dicts (what the decoder produces)."""

    rows: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, table: str, **row: Any) -> Row:
        self.rows.setdefault(table, []).append(row)
        return row

    def all(self) -> list[tuple[str, Row]]:
        return [(t, r) for t, rows in self.rows.items() for r in rows]

    def changes(self) -> list[RowChange]:
        return [change(t, r, "r") for t, r in self.all()]


_FIRST = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas"]
_LAST = ["Muster", "Beispiel", "Probe", "Test", "Demo", "Modell", "Vorlage", "Schema"]
_STREETS = ["Hauptstraße", "Gartenweg", "Lindenallee", "Am Markt", "Bahnhofstraße"]


def random_dataset(
    seed: int,
    *,
    properties: int = 4,
    units_per_property: int = 4,
    today: date = date(2025, 6, 15),
) -> Dataset:
    """A random but consistent ERP. Property numbers are ``"1000"``, ``"1001"``, …;
    mandant 1 and 2 exist, mandant 3 is referenced but has no row."""
    rnd = random.Random(seed)
    ds = Dataset()
    ds.add("mandant", mandant_no=1, name="Mandant Eins")
    ds.add("mandant", mandant_no=2, name="Mandant Zwei")
    ds.add("person_type", person_type_code="MIE", name="Mieter")
    ds.add("person_type", person_type_code="EIG", name="Eigentümer")
    person_ids = itertools.count(1)
    contract_ids = itertools.count(1)
    building_ids = itertools.count(1)
    unit_ids = itertools.count(1)

    def person(email: bool = True, anonymized: bool = False) -> int:
        pid = next(person_ids)
        first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
        ds.add(
            "person", person_id=pid, person_no=f"P{pid:05d}", person_type_code=rnd.choice(["MIE", "MIE", "EIG", "INT", None]),
            salutation=rnd.choice(["Frau", "Herr", None]), title=rnd.choice([None, "Dr."]), first_name=first,
            last_name=last, company=None, email=f"{first.lower()}.{pid}@example.invalid" if email else None,
            phone="+49 30 000000" if rnd.random() < 0.5 else None, mobile=None, street=rnd.choice(_STREETS),
            postal_code="10115", city="Berlin", country="DE",
            iban="DE00000000000000000000" if rnd.random() < 0.5 else None, bic=None, account_holder=None,
            anonymized_at=datetime(2025, 1, 1, tzinfo=timezone.utc) if anonymized else None,
        )
        return pid

    for tid in (1, 2):
        ds.add("team", team_id=tid, name=f"Team {tid}")
    for uid in range(1, 6):
        ds.add("staff_user", user_id=uid, user_no=f"U{uid}" if uid != 5 else None, first_name=rnd.choice(_FIRST),
               last_name=rnd.choice(_LAST), email=f"staff{uid}@example.invalid", phone=None,
               active=rnd.random() < 0.8)
        if rnd.random() < 0.6:
            ds.add("team_member", team_id=rnd.choice([1, 2]), user_id=uid)
    for pi in range(properties):
        prop_id = pi + 1
        mandant = rnd.choice([1, 1, 1, 2, 3])
        ended = rnd.random() < 0.15
        ds.add(
            "property", property_id=prop_id, mandant_no=mandant, property_no=str(1000 + pi),
            name=f"Objekt {pi}", property_group=rnd.choice(["WEG", "MIET", None]), street=rnd.choice(_STREETS),
            postal_code="10115", city="Berlin", country="DE", management_start=date(2010, 1, 1),
            management_end=today - timedelta(days=rnd.randint(1, 10)) if ended else
            rnd.choice([None, None, today, today + timedelta(days=100)]),
            team_id=rnd.choice([None, 1, 2]),
        )
        for uid in rnd.sample(range(1, 6), rnd.randint(0, 2)):
            ds.add("property_user", property_id=prop_id, user_id=uid, is_responsible=rnd.random() < 0.5)
        buildings = []
        for _ in range(rnd.randint(0, 2)):
            bid = next(building_ids)
            buildings.append(bid)
            ds.add("building", building_id=bid, property_id=prop_id, street=rnd.choice(_STREETS),
                   house_no=str(rnd.randint(1, 99)), postal_code="10115", city="Berlin")
        for ui in range(units_per_property):
            uid = next(unit_ids)
            ds.add(
                "unit", unit_id=uid, property_id=prop_id,
                building_id=rnd.choice(buildings) if buildings and rnd.random() < 0.8 else None,
                unit_no=f"{ui + 1:04d}", name=f"Wohnung {ui + 1}",
                usage=rnd.choice(["RESIDENTIAL", "COMMERCIAL", "PARKING", "OTHER"]),
                area=Decimal(rnd.randint(2000, 15000)) / 100, floor=str(rnd.randint(0, 5)),
                rooms=Decimal(rnd.randint(2, 12)) / 2, valid_from=date(2000, 1, 1),
                valid_to=rnd.choice([None] * 8 + [today - timedelta(days=1), today]),
                is_phantom=rnd.random() < 0.1,
            )
            start = today - timedelta(days=rnd.randint(-60, 3000))
            for _ in range(rnd.randint(0, 3)):
                end: date | None = rnd.choice([None, start + timedelta(days=rnd.randint(0, 2000))])
                main = person(email=rnd.random() < 0.85, anonymized=rnd.random() < 0.05)
                cid = next(contract_ids)
                ds.add(
                    "contract", contract_id=cid, contract_no=f"{cid:02d}",
                    contract_type=rnd.choice(["TENANT", "TENANT", "OWNER"]), property_id=prop_id, unit_id=uid,
                    person_id=main, start_date=start, end_date=end,
                    rent_amount=Decimal(rnd.randint(30000, 200000)) / 100,
                    deposit_amount=rnd.choice([None, Decimal("1500.00")]),
                )
                for _ in range(rnd.choice([0, 0, 1, 2])):
                    co = person(email=rnd.random() < 0.5, anonymized=rnd.random() < 0.05)
                    ds.add("contract_party", contract_id=cid, person_id=co,
                           role=rnd.choice(["CO_TENANT", "RESIDENT", "PARTNER"]))
                if rnd.random() < 0.15:
                    ds.add("property_owner", property_id=prop_id, person_id=main)
                # sometimes an existing person is also party of this contract
                if rnd.random() < 0.2 and cid > 1:
                    other = rnd.randint(1, main - 1) if main > 1 else None
                    if other is not None:
                        ds.add("contract_party", contract_id=cid, person_id=other, role="PARTNER")
                if end is None:
                    break
                start = end + timedelta(days=1)
        if rnd.random() < 0.3 and ds.rows.get("person"):
            ds.add("caretaker", property_id=prop_id, person_id=rnd.randint(1, len(ds.rows["person"])))
    # a few shared e-mail addresses (couples), in other case and with blanks
    persons = [p for p in ds.rows.get("person", []) if p["email"]]
    for _ in range(len(persons) // 6):
        a, b = rnd.sample(persons, 2)
        b["email"] = rnd.choice([a["email"], f" {a['email'].upper()} "])
    _documents_and_tickets(ds, random.Random(f"documents-{seed}"), properties, today)
    return ds


def _documents_and_tickets(ds: Dataset, rnd: random.Random, properties: int, today: date) -> None:
    """Documents (released or not, in and out of the time filter, shared with a person, a
    contract, a unit or the property) and tickets of every portal mode and status with notes
    and attachments (R16–R19). A generator of its own: the other rows stay as they were."""
    ds.add("document_type", document_type_code="NK", name="Nebenkosten", document_class="Abrechnung")
    ds.add("document_type", document_type_code="HO", name="Hausordnung", document_class=None)
    for code, mode in (("STD", "STANDARD"), ("PIN", "PINBOARD"), ("BLK", "BLOCKED"), ("OBJ", "PROPERTY")):
        ds.add("ticket_type", ticket_type_code=code, name=f"Art {code}", portal_mode=mode)
    for code, kind in (("NEU", "OPEN"), ("ARB", "IN_PROGRESS"), ("ERL", "DONE"), ("STO", "CANCELLED")):
        ds.add("ticket_status", status_code=code, name=f"Status {code}", status_kind=kind)
    units = ds.rows.get("unit", [])
    contracts = ds.rows.get("contract", [])
    persons = ds.rows.get("person", [])
    document_ids = itertools.count(1)
    note_ids = itertools.count(1)
    for prop_id in range(1, properties + 1):
        mine = [u for u in units if u["property_id"] == prop_id]
        for _ in range(rnd.randint(0, 3)):
            did = next(document_ids)
            u = rnd.choice(mine) if mine and rnd.random() < 0.6 else None
            c = rnd.choice([c for c in contracts if u and c["unit_id"] == u["unit_id"]] or [None])
            ds.add("document", document_id=did, property_id=prop_id, unit_id=u["unit_id"] if u else None,
                   contract_id=c["contract_id"] if c and rnd.random() < 0.6 else None,
                   person_id=rnd.choice(persons)["person_id"] if persons and rnd.random() < 0.2 else None,
                   document_type_code=rnd.choice(["NK", "HO", None]), name=f"Dokument {did}.pdf",
                   mime_type="application/pdf",
                   created_at=datetime.combine(today - timedelta(days=rnd.randint(0, 900)), datetime.min.time(),
                                               tzinfo=timezone.utc),
                   released=rnd.choice([True, True, False, None]),
                   content=rnd.choice([f"%PDF {did}".encode(), None]) if rnd.random() < 0.2 else f"%PDF {did}".encode())
        for _ in range(rnd.randint(0, 2)):
            tid = (prop_id - 1) * 10 + rnd.randint(1, 9)
            if any(t["ticket_id"] == tid for t in ds.rows.get("ticket", [])):
                continue
            u = rnd.choice(mine) if mine and rnd.random() < 0.7 else None
            ds.add("ticket", ticket_id=tid, ticket_no=tid, ticket_type_code=rnd.choice(["STD", "STD", "PIN", "BLK", "OBJ"]),
                   subject=f"Meldung {tid}", description=rnd.choice(["Bitte prüfen.", None]), hint1=None, hint2=None,
                   reporter_person_id=rnd.choice(persons)["person_id"] if persons and rnd.random() < 0.8 else None,
                   trade=None, reported_at=datetime.combine(today - timedelta(days=rnd.randint(0, 900)),
                                                           datetime.min.time(), tzinfo=timezone.utc),
                   property_id=prop_id, unit_id=u["unit_id"] if u else None, technical_object=None,
                   responsible_user_id=rnd.choice([None, 1, 2, 3, 4, 5]), responsible_team_id=rnd.choice([None, 1, 2]),
                   due_from=None, due_to=None, status_code=rnd.choice(["NEU", "ARB", "ERL", "STO"]), priority_code=None,
                   origin=rnd.choice(["ERP", "ERP", "ERP", "PORTAL"]))
            for _ in range(rnd.randint(0, 2)):
                ds.add("ticket_note", note_id=next(note_ids), ticket_id=tid, author="Verwaltung",
                       created_at=datetime(2025, 1, 2, tzinfo=timezone.utc), content=rnd.choice(["Erledigt bald.", ""]),
                       is_internal=rnd.choice([False, False, True, None]))
            docs = [d for d in ds.rows.get("document", []) if d["property_id"] == prop_id]
            if docs and rnd.random() < 0.4:
                ds.add("ticket_document", ticket_id=tid, document_id=rnd.choice(docs)["document_id"])


def minimal_dataset() -> Dataset:
    """One Mandant, one property with one building and one unit, one tenant contract
    (main party with e-mail) with one co-tenant (with e-mail, so R07 lets them through)."""
    ds = Dataset()
    ds.add("mandant", mandant_no=1, name="Mandant Eins")
    ds.add("person_type", person_type_code="MIE", name="Mieter")
    ds.add("property", property_id=10, mandant_no=1, property_no="1000", name="Objekt Lindenallee",
           property_group="MIET", street="Lindenallee", postal_code="10115", city="Berlin", country="DE",
           management_start=date(2010, 1, 1), management_end=None, team_id=None)
    ds.add("building", building_id=100, property_id=10, street="Lindenallee", house_no="5",
           postal_code="10115", city="Berlin")
    ds.add("unit", unit_id=1000, property_id=10, building_id=100, unit_no="0001", name="Wohnung 1 links",
           usage="RESIDENTIAL", area=Decimal("75.50"), floor="1", rooms=Decimal("3.0"),
           valid_from=date(2000, 1, 1), valid_to=None, is_phantom=False)
    ds.add("person", person_id=1, person_no="P001", person_type_code="MIE", salutation="Frau", title="Dr.",
           first_name="Anna", last_name="Muster", company=None, email="anna@example.invalid",
           phone="+49 30 1", mobile="+49 170 1", street="Lindenallee 5", postal_code="10115", city="Berlin",
           country="DE", iban="DE00123456780000000000", bic="TESTDEFFXXX", account_holder="Anna Muster",
           anonymized_at=None)
    ds.add("person", person_id=2, person_no="P002", person_type_code="MIE", salutation="Herr", title=None,
           first_name="Ben", last_name="Muster", company=None, email="ben@example.invalid", phone=None, mobile=None,
           street="Lindenallee 5", postal_code="10115", city="Berlin", country="DE", iban=None, bic=None,
           account_holder=None, anonymized_at=None)
    ds.add("contract", contract_id=500, contract_no="01", contract_type="TENANT", property_id=10, unit_id=1000,
           person_id=1, start_date=date(2024, 1, 1), end_date=None, rent_amount=Decimal("850.00"),
           deposit_amount=Decimal("2550.00"))
    ds.add("contract_party", contract_id=500, person_id=2, role="CO_TENANT")
    return ds
