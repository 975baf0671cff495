"""The demo housing company: a deterministic ERP data set in the reference schema.

``generate(seed, scale, today)`` builds every table's rows (plain dicts with exactly the
columns of ``streams.erp.schema.TABLES``), ``load`` writes them into PostgreSQL schema
``erp`` with COPY in one transaction, ``live_changes`` derives a realistic burst of
business events (move-in, move-out, contact edits, deletes) and ``apply_changes`` runs
them as SQL.

At scale 1.0: 2 Mandanten, 100 properties, 1–3 buildings each, 3,000 units (~2 %
phantom), 5,000 persons (German-looking fake names, ~5 % without e-mail, a few shared
e-mails, some syntactically valid DE IBANs), 4,000 contracts (tenant and owner; open,
long ended, ended within the 30-day grace, starting in the future) and co-tenants.
Counts of properties, units, persons and contracts scale linearly (at least one each).

All names, addresses and accounts are invented; e-mail addresses use the reserved
``example.*`` domains.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from streams.erp.schema import ERP_SCHEMA, TABLES

Row = dict[str, Any]

#: Tables in an order where every row's references come before it.
DEPENDENCY_ORDER: tuple[str, ...] = (
    "mandant", "team", "staff_user", "team_member", "property", "property_user", "building", "unit",
    "person_type", "person", "contract", "contract_party", "property_owner", "caretaker",
    "document_type", "document", "ticket_type", "ticket_status", "ticket_priority", "ticket",
    "ticket_note", "ticket_document",
)
assert sorted(DEPENDENCY_ORDER) == sorted(TABLES)

GRACE_DAYS = 30  # R09 delete_after_days default: "recently ended" contracts lie within it

BASE_COUNTS = {"property": 100, "unit": 3000, "person": 5000, "contract": 4000}

_FIRST_F = ("Anna", "Maria", "Ursula", "Monika", "Petra", "Sabine", "Claudia", "Susanne", "Andrea", "Birgit",
            "Katrin", "Julia", "Lena", "Sophie", "Laura", "Hannah", "Lea", "Marie", "Emma", "Mia", "Greta",
            "Ingrid", "Renate", "Elke", "Heike", "Nicole", "Stefanie", "Jana", "Miriam", "Carla")
_FIRST_M = ("Peter", "Michael", "Thomas", "Andreas", "Wolfgang", "Klaus", "Jürgen", "Stefan", "Frank", "Uwe",
            "Markus", "Christian", "Tobias", "Jan", "Lukas", "Felix", "Jonas", "Leon", "Paul", "Max", "Henrik",
            "Dieter", "Manfred", "Günter", "Ralf", "Sven", "Oliver", "Matthias", "Niklas", "Tim")
_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
         "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
         "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier",
         "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber",
         "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Vogel")
_STREETS = ("Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Lindenallee", "Birkenweg",
            "Am Markt", "Kirchweg", "Mühlenweg", "Bergstraße", "Rosenstraße", "Goethestraße", "Schillerstraße",
            "Ahornweg", "Eichendorffstraße", "Parkstraße", "Ringstraße", "Wiesenweg", "Feldstraße", "Am Hafen")
_CITIES = (("10115", "Berlin"), ("20095", "Hamburg"), ("80331", "München"), ("50667", "Köln"),
           ("60311", "Frankfurt am Main"), ("70173", "Stuttgart"), ("40213", "Düsseldorf"), ("04109", "Leipzig"),
           ("01067", "Dresden"), ("30159", "Hannover"), ("28195", "Bremen"), ("90402", "Nürnberg"))
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")
_COMPANY_FORMS = ("GmbH", "GmbH & Co. KG", "KG", "e.K.", "UG (haftungsbeschränkt)")
_TRADES = ("Bäckerei", "Friseursalon", "Steuerberatung", "Arztpraxis", "Blumenladen", "Architekturbüro", "Café")
_BANKS = ("10010010", "20050550", "37040044", "50010517", "60050101", "70150000", "86055592", "12030000")

_USAGE = ("RESIDENTIAL", "COMMERCIAL", "PARKING", "OTHER")
_USAGE_W = (75, 8, 14, 3)
_ROLES = ("CO_TENANT", "RESIDENT", "PARTNER")
_ROLES_W = (70, 20, 10)


@dataclass
class Dataset:
    """Rows of every reference-schema table, in ``DEPENDENCY_ORDER``."""

    seed: int
    scale: float
    today: date
    tables: dict[str, list[Row]] = field(default_factory=dict)

    def rows(self, table: str) -> list[Row]:
        return self.tables[table]

    def counts(self) -> dict[str, int]:
        return {t: len(rows) for t, rows in self.tables.items()}

    def __iter__(self) -> Iterator[tuple[str, list[Row]]]:
        return iter(self.tables.items())

    @property
    def total_rows(self) -> int:
        return sum(len(r) for r in self.tables.values())


# --- helpers ------------------------------------------------------------------------------------


def iban_de(blz: str, account: str) -> str:
    """A syntactically valid German IBAN (ISO 13616 mod-97 check digits)."""
    bban = blz + account.zfill(10)
    numeric = int(bban + "131400")  # "DE00": D=13, E=14, check digits 00
    return f"DE{98 - numeric % 97:02d}{bban}"


def iban_is_valid(iban: str) -> bool:
    s = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in s)
    return int(digits) % 97 == 1


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _ascii(s: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", " ": "-"})
    return s.translate(table).lower()


def _ts(d: date, rng: random.Random) -> datetime:
    return datetime.combine(d, time(rng.randrange(6, 20), rng.randrange(60), rng.randrange(60)), tzinfo=timezone.utc)


def _scaled(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def _row(table: str, **values: Any) -> Row:
    """A row with exactly the table's columns (missing ones None), in column order."""
    cols = TABLES[table].column_names
    unknown = set(values) - set(cols)
    if unknown:
        raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
    return {c: values.get(c) for c in cols}


# --- generation ---------------------------------------------------------------------------------


def generate(seed: int, scale: float = 1.0, today: date | None = None) -> Dataset:
    """The demo data set. Same (seed, scale, today) → identical rows."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    today = today or date.today()
    rng = random.Random(seed)
    ds = Dataset(seed=seed, scale=scale, today=today, tables={t: [] for t in DEPENDENCY_ORDER})
    T = ds.tables

    def stamp() -> datetime:
        return _ts(today - timedelta(days=rng.randrange(1, 400)), rng)

    # Mandanten, teams, staff
    T["mandant"] = [_row("mandant", mandant_no=1, name="Hausverwaltung Musterstadt GmbH", updated_at=stamp()),
                    _row("mandant", mandant_no=2, name="Wohnbau Beispiel eG", updated_at=stamp())]
    T["team"] = [_row("team", team_id=i, name=n, updated_at=stamp())
                 for i, n in enumerate(("Team Nord", "Team Süd", "Team Gewerbe"), start=1)]
    staff: list[Row] = []
    for uid in range(1, 9):
        first = rng.choice(_FIRST_F if uid % 2 else _FIRST_M)
        last = rng.choice(_LAST)
        staff.append(_row("staff_user", user_id=uid, user_no=f"{chr(64 + uid)}{_ascii(last)[0].upper()}{uid}",
                          first_name=first, last_name=last,
                          email=f"{_ascii(first)}.{_ascii(last)}@hv-musterstadt.example",
                          phone=f"+49 30 {rng.randrange(1000000, 9999999)}", active=uid != 8, updated_at=stamp()))
    T["staff_user"] = staff
    T["team_member"] = [_row("team_member", team_id=1 + (uid - 1) % 3, user_id=uid, updated_at=stamp())
                        for uid in range(1, 9)]

    # Properties and buildings
    n_props = _scaled(BASE_COUNTS["property"], scale)
    props: list[Row] = []
    buildings: list[Row] = []
    bid = 0
    for pid in range(1, n_props + 1):
        postal, city = rng.choice(_CITIES)
        street = rng.choice(_STREETS)
        house = rng.randrange(1, 120)
        group = rng.choices(("Miete", "WEG", "Gewerbe"), (60, 30, 10))[0]
        start = today - timedelta(days=rng.randrange(200, 9000))
        end: date | None = None
        if pid % 50 == 0:  # a few properties no longer managed, or ending soon
            end = today + timedelta(days=rng.choice((-120, 60)))
        props.append(_row(
            "property", property_id=pid, mandant_no=1 if pid % 5 < 3 else 2, property_no=f"{pid:04d}",
            name=f"{'WEG' if group == 'WEG' else 'Wohnanlage' if group == 'Miete' else 'Gewerbehof'} "
                 f"{street} {house}",
            property_group=group, street=f"{street} {house}", postal_code=postal, city=city, country="DE",
            management_start=start, management_end=end, team_id=rng.choice((1, 2, 3, None)), updated_at=stamp()))
        for k in range(rng.randrange(1, 4)):
            bid += 1
            buildings.append(_row("building", building_id=bid, property_id=pid, street=street,
                                  house_no=f"{house + 2 * k}{rng.choice(('', '', '', 'a'))}",
                                  postal_code=postal, city=city, updated_at=stamp()))
    T["property"] = props
    T["building"] = buildings
    T["property_user"] = []
    for p in props:
        users = rng.sample(range(1, 9), rng.randrange(1, 3))
        for i, uid in enumerate(sorted(users)):
            T["property_user"].append(_row("property_user", property_id=p["property_id"], user_id=uid,
                                           is_responsible=i == 0, updated_at=stamp()))
    buildings_of: dict[int, list[int]] = {}
    for b in buildings:
        buildings_of.setdefault(b["property_id"], []).append(b["building_id"])

    # Units: every property gets at least one; the rest spread with random weights
    n_units = _scaled(BASE_COUNTS["unit"], scale)
    weights = [rng.uniform(0.3, 2.0) for _ in props]
    per_prop = [1] * n_props if n_units >= n_props else [0] * n_props
    if n_units < n_props:
        for i in rng.sample(range(n_props), n_units):
            per_prop[i] = 1
    for i in rng.choices(range(n_props), weights, k=max(0, n_units - n_props)):
        per_prop[i] += 1
    units: list[Row] = []
    uid = 0
    for p, count in zip(props, per_prop):
        for k in range(1, count + 1):
            uid += 1
            usage = rng.choices(_USAGE, _USAGE_W)[0]
            if usage == "RESIDENTIAL":
                area, rooms = rng.uniform(28, 140), Decimal(rng.randrange(2, 12)) / 2
                floor = rng.choice(("EG", "1", "2", "3", "4", "DG"))
                name = f"WE {k}, {floor if floor in ('EG', 'DG') else floor + '. OG'}"
            elif usage == "COMMERCIAL":
                area, rooms, floor = rng.uniform(45, 420), Decimal(rng.randrange(1, 9)), "EG"
                name = f"Gewerbeeinheit {k}"
            elif usage == "PARKING":
                area, rooms, floor = 12.5, Decimal("0.0"), rng.choice(("TG", "Hof"))
                name = f"Stellplatz {k}"
            else:
                area, rooms, floor = rng.uniform(4, 30), Decimal("0.0"), rng.choice(("KG", "DG"))
                name = f"Abstellraum {k}"
            units.append(_row(
                "unit", unit_id=uid, property_id=p["property_id"],
                building_id=None if usage == "PARKING" and rng.random() < 0.5 else rng.choice(
                    buildings_of[p["property_id"]]),
                unit_no=f"{k:04d}", name=name, usage=usage, area=_money(area),
                floor=floor, rooms=rooms.quantize(Decimal("0.1")), valid_from=p["management_start"],
                valid_to=None, is_phantom=rng.random() < 0.02, updated_at=stamp()))
    T["unit"] = units

    # Persons
    T["person_type"] = [_row("person_type", person_type_code=c, name=n, updated_at=stamp())
                        for c, n in (("TENANT", "Mieter"), ("OWNER", "Eigentümer"), ("PROSPECT", "Interessent"))]
    n_persons = _scaled(BASE_COUNTS["person"], scale)
    persons: list[Row] = []
    for pid in range(1, n_persons + 1):
        persons.append(_person(rng, pid, today, stamp()))
    # a few shared e-mails (couples, family addresses): R08
    with_mail = [p for p in persons if p["email"] and p["company"] is None]
    for _ in range(max(1, n_persons // 400)):
        a, b = rng.sample(with_mail, 2)
        b["email"] = a["email"]
    T["person"] = persons
    tenants = [p["person_id"] for p in persons if p["person_type_code"] == "TENANT"]
    owners = [p["person_id"] for p in persons if p["person_type_code"] == "OWNER"] or tenants

    # Contracts
    n_contracts = _scaled(BASE_COUNTS["contract"], scale)
    n_owner = round(n_contracts * 0.10)
    n_tenant = n_contracts - n_owner
    n_open = min(round(n_tenant * 0.72), n_units)
    n_recent = round(n_tenant * 0.04)
    n_future = round(n_tenant * 0.06)
    n_old = n_tenant - n_open - n_recent - n_future
    unit_order = list(range(n_units))
    rng.shuffle(unit_order)
    open_units = unit_order[:n_open]
    vacant = unit_order[n_open:] or unit_order
    tenant_pool = tenants[:]
    rng.shuffle(tenant_pool)
    next_tenant = iter(tenant_pool * (1 + n_tenant // max(1, len(tenant_pool))))
    contracts: list[Row] = []

    def add(kind: str, u: Row, person_id: int, start: date, end: date | None) -> Row:
        cid = len(contracts) + 1
        area = float(u["area"])
        if kind == "OWNER":
            rent, deposit = _money(area * rng.uniform(2.8, 4.5)), Decimal("0.00")
        else:
            rate = {"RESIDENTIAL": (7.5, 16.0), "COMMERCIAL": (10.0, 25.0)}.get(u["usage"], (3.0, 8.0))
            rent = _money(area * rng.uniform(*rate)) if u["usage"] != "PARKING" else _money(rng.uniform(35, 120))
            deposit = _money(float(rent) * 3)
        c = _row("contract", contract_id=cid, contract_no=f"{u['property_id']:04d}-{cid:06d}", contract_type=kind,
                 property_id=u["property_id"], unit_id=u["unit_id"], person_id=person_id, start_date=start,
                 end_date=end, rent_amount=rent, deposit_amount=deposit, updated_at=stamp())
        contracts.append(c)
        return c

    def past(lo: int, hi: int) -> date:
        return today - timedelta(days=rng.randrange(lo, hi))

    open_contracts: list[Row] = []
    for i in open_units:
        open_contracts.append(add("TENANT", units[i], next(next_tenant), past(20, 7000), None))
    for _ in range(n_old):
        end = past(GRACE_DAYS + 30, 4000)
        add("TENANT", units[rng.choice(unit_order)], next(next_tenant), end - timedelta(days=rng.randrange(200, 4000)),
            end)
    for _ in range(n_recent):
        end = past(1, GRACE_DAYS - 2)  # within the grace period
        add("TENANT", units[rng.choice(vacant)], next(next_tenant), end - timedelta(days=rng.randrange(300, 3000)),
            end)
    for _ in range(n_future):
        add("TENANT", units[rng.choice(vacant)], next(next_tenant), today + timedelta(days=rng.randrange(1, 90)),
            None)
    owned_units = [u for u in units if u["usage"] != "PARKING"] or units
    for _ in range(n_owner):
        u = rng.choice(owned_units)
        add("OWNER", u, rng.choice(owners), past(365, 9000), None if rng.random() < 0.9 else past(40, 300))
    T["contract"] = contracts

    # Co-tenants (partner management) on ~20 % of the open tenant contracts
    used_main = {c["person_id"] for c in contracts}
    spare = [p for p in tenants if p not in used_main] or tenants
    parties: list[Row] = []
    seen: set[tuple[int, int]] = set()
    for c in open_contracts:
        if rng.random() < 0.2:
            pid = rng.choice(spare)
            if pid == c["person_id"] or (c["contract_id"], pid) in seen:
                continue
            seen.add((c["contract_id"], pid))
            parties.append(_row("contract_party", contract_id=c["contract_id"], person_id=pid,
                                role=rng.choices(_ROLES, _ROLES_W)[0], updated_at=stamp()))
    T["contract_party"] = parties

    # Owners of WEG properties, caretakers
    owner_pairs = sorted({(c["property_id"], c["person_id"]) for c in contracts if c["contract_type"] == "OWNER"})
    T["property_owner"] = [_row("property_owner", property_id=p, person_id=q, updated_at=stamp())
                           for p, q in owner_pairs]
    T["caretaker"] = [_row("caretaker", property_id=p["property_id"], person_id=rng.choice(tenants),
                           updated_at=stamp()) for p in props if p["property_id"] % 5 == 1]

    # Document types and a few released documents per property
    T["document_type"] = [_row("document_type", document_type_code=c, name=n, document_class=k, updated_at=stamp())
                          for c, n, k in (("HO", "Hausordnung", "Allgemein"), ("NK", "Nebenkostenabrechnung", None),
                                          ("PR", "Protokoll Eigentümerversammlung", "Versammlung"),
                                          ("FOTO", "Foto", None))]
    docs: list[Row] = []
    for p in props[:: max(1, n_props // 20)]:
        did = len(docs) + 1
        content = f"%PDF-1.4\n% Hausordnung {p['name']}\n%%EOF\n".encode()
        docs.append(_row("document", document_id=did, property_id=p["property_id"], document_type_code="HO",
                         name=f"Hausordnung {p['property_no']}.pdf", mime_type="application/pdf",
                         created_at=_ts(past(10, 900), rng), released=did % 7 != 0, content=content,
                         updated_at=stamp()))
    T["document"] = docs

    # Ticket lookups
    T["ticket_type"] = [_row("ticket_type", ticket_type_code=c, name=n, portal_mode=m, updated_at=stamp())
                        for c, n, m in (("SCHADEN", "Schadensmeldung", "STANDARD"), ("ANFRAGE", "Anfrage", "STANDARD"),
                                        ("AUSHANG", "Aushang", "PINBOARD"), ("INTERN", "Intern", "BLOCKED"),
                                        ("OBJEKT", "Objektmeldung", "PROPERTY"))]
    T["ticket_status"] = [_row("ticket_status", status_code=c, name=n, status_kind=k, updated_at=stamp())
                          for c, n, k in (("NEU", "Neu", "OPEN"), ("BEARB", "In Bearbeitung", "IN_PROGRESS"),
                                          ("ZURUECK", "Zurückgestellt", "POSTPONED"), ("ERL", "Erledigt", "DONE"),
                                          ("STORNO", "Storniert", "CANCELLED"))]
    T["ticket_priority"] = [_row("ticket_priority", priority_code=c, name=n, rank=r, updated_at=stamp())
                            for c, n, r in (("HOCH", "Hoch", 1), ("NORMAL", "Normal", 2), ("NIEDRIG", "Niedrig", 3))]
    _statements_and_tickets(ds, random.Random(f"tickets-{seed}"), n_props)
    return ds


_SUBJECTS = {
    "SCHADEN": ("Heizung kalt", "Wasserhahn tropft", "Fenster klemmt", "Klingel defekt", "Schimmel im Bad"),
    "ANFRAGE": ("Kopie Mietvertrag", "Stellplatz gesucht", "Frage zur Abrechnung"),
    "AUSHANG": ("Wasser abgestellt", "Treppenhausreinigung", "Aufzugswartung"),
    "INTERN": ("Mahnlauf prüfen", "Rechtsstreit"),
    "OBJEKT": ("Dach wird saniert", "Hoftor defekt"),
}


def _statements_and_tickets(ds: Dataset, rng: random.Random, n_props: int) -> None:
    """Utility statements (NK) for some open tenant contracts; tickets of every portal mode and
    state with public and internal notes, some with a photo (R16–R19). A generator of their own,
    so the rest of the data set is the same as without them."""
    T, today = ds.tables, ds.today
    docs = T["document"]
    open_contracts = [c for c in T["contract"] if c["contract_type"] == "TENANT" and c["end_date"] is None]
    for c in open_contracts[:: max(1, len(open_contracts) // max(1, n_props * 3))]:
        year = today.year - rng.choice((1, 1, 2))  # the one from two years ago is under the time filter
        docs.append(_row("document", document_id=len(docs) + 1, property_id=c["property_id"], unit_id=c["unit_id"],
                         contract_id=c["contract_id"], document_type_code="NK",
                         name=f"Nebenkostenabrechnung {year} {c['contract_no']}.pdf", mime_type="application/pdf",
                         created_at=datetime(year + 1, 3, rng.randrange(1, 28), 9, tzinfo=timezone.utc),
                         released=rng.random() < 0.9, content=f"%PDF-1.4\n% NK {year}\n%%EOF\n".encode() * 40,
                         updated_at=_ts(today, rng)))
    tenants_of = {c["unit_id"]: c["person_id"] for c in open_contracts}
    units_of: dict[int, list[Row]] = {}
    for u in T["unit"]:
        units_of.setdefault(u["property_id"], []).append(u)
    modes = ("SCHADEN", "SCHADEN", "SCHADEN", "ANFRAGE", "AUSHANG", "INTERN", "OBJEKT")
    statuses = ("NEU", "NEU", "BEARB", "ZURUECK", "ERL", "ERL", "STORNO")
    tickets, notes, links = T["ticket"], T["ticket_note"], T["ticket_document"]
    for p in T["property"]:
        for _ in range(3):
            kind = rng.choice(modes)
            unit = rng.choice(units_of.get(p["property_id"], [None]))
            tid = len(tickets) + 1
            tickets.append(_row(
                "ticket", ticket_id=tid, ticket_no=20000 + tid, ticket_type_code=kind,
                subject=rng.choice(_SUBJECTS[kind]), description="Bitte um Rückmeldung." if kind != "AUSHANG"
                else "Bitte beachten Sie den Aushang im Treppenhaus.", hint1=rng.choice((None, "Schlüssel beim Hausmeister")),
                hint2=None, reporter_person_id=tenants_of.get(unit["unit_id"]) if unit and kind != "AUSHANG" else None,
                trade=rng.choice((None, "Sanitär", "Elektro", "Heizung")),
                reported_at=_ts(today - timedelta(days=rng.randrange(1, 700)), rng), property_id=p["property_id"],
                unit_id=unit["unit_id"] if unit and kind in ("SCHADEN", "ANFRAGE") else None, technical_object=None,
                responsible_user_id=rng.randrange(1, 9), responsible_team_id=p["team_id"],
                due_from=None, due_to=None, status_code=rng.choice(statuses),
                priority_code=rng.choice(("HOCH", "NORMAL", "NIEDRIG")), origin="ERP", updated_at=_ts(today, rng)))
            for k in range(rng.randrange(0, 3)):
                notes.append(_row("ticket_note", note_id=len(notes) + 1, ticket_id=tid, author="Hausverwaltung",
                                  created_at=_ts(today - timedelta(days=rng.randrange(0, 30)), rng),
                                  content=("Ein Handwerker ist beauftragt.", "Interner Vermerk zur Kostenübernahme.")[k % 2],
                                  is_internal=k % 2 == 1, updated_at=_ts(today, rng)))
            if kind == "SCHADEN" and rng.random() < 0.2:
                did = len(docs) + 1
                docs.append(_row("document", document_id=did, property_id=p["property_id"], unit_id=None,
                                 contract_id=None, person_id=None, document_type_code="FOTO", name=f"Foto {tid}.jpg",
                                 mime_type="image/jpeg", created_at=_ts(today - timedelta(days=5), rng), released=True,
                                 content=b"\xff\xd8\xff\xe0" + bytes(rng.randrange(256) for _ in range(2048)),
                                 updated_at=_ts(today, rng)))
                links.append(_row("ticket_document", ticket_id=tid, document_id=did, updated_at=_ts(today, rng)))


def _person(rng: random.Random, pid: int, today: date, updated_at: datetime,
            person_type: str | None = None) -> Row:
    ptype = person_type or rng.choices(("TENANT", "OWNER", "PROSPECT"), (80, 12, 8))[0]
    female = rng.random() < 0.5
    first = rng.choice(_FIRST_F if female else _FIRST_M)
    last = rng.choice(_LAST)
    company = None
    if rng.random() < 0.03:
        company = f"{rng.choice(_TRADES)} {last} {rng.choice(_COMPANY_FORMS)}"
    postal, city = rng.choice(_CITIES)
    email: str | None = None
    if rng.random() >= 0.05:
        email = f"{_ascii(first)}.{_ascii(last)}{pid}@{rng.choice(_DOMAINS)}"
    iban = bic = holder = None
    if rng.random() < 0.35:
        blz = rng.choice(_BANKS)
        iban = iban_de(blz, str(rng.randrange(10**6, 10**10)))
        bic = f"{''.join(rng.choice('ABCDEFGHKLMNPRSTUVW') for _ in range(4))}DE{rng.choice(('FF', 'MM', 'HH', 'BE'))}XXX"
        holder = company or f"{first} {last}"
    return _row(
        "person", person_id=pid, person_no=f"{100000 + pid}", person_type_code=ptype,
        salutation="Firma" if company else ("Frau" if female else "Herr"),
        title="Dr." if rng.random() < 0.04 else None, first_name=first, last_name=last, company=company,
        email=email, phone=f"+49 {rng.randrange(30, 999)} {rng.randrange(100000, 9999999)}" if rng.random() < 0.7
        else None, mobile=f"+49 1{rng.randrange(50, 79)} {rng.randrange(1000000, 99999999)}"
        if rng.random() < 0.5 else None,
        street=f"{rng.choice(_STREETS)} {rng.randrange(1, 150)}", postal_code=postal, city=city, country="DE",
        iban=iban, bic=bic, account_holder=holder, anonymized_at=None, updated_at=updated_at)


# --- loading ------------------------------------------------------------------------------------


def _qualified(table: str) -> Any:
    from psycopg import sql

    return sql.Identifier(ERP_SCHEMA, table)


def load(conn: Any, dataset: Dataset, *, replace: bool = False) -> dict[str, int]:
    """Insert every row into PostgreSQL schema ``erp`` with COPY, in one transaction.

    ``conn`` is a ``psycopg.Connection``. ``replace=True`` empties the tables first
    (``DELETE``, so CDC sees ordinary deletes). Returns the rows loaded per table.
    """
    from psycopg import sql

    loaded: dict[str, int] = {}
    with conn.transaction():
        with conn.cursor() as cur:
            if replace:
                for table in reversed(DEPENDENCY_ORDER):
                    cur.execute(sql.SQL("DELETE FROM {}").format(_qualified(table)))
            for table, rows in dataset:
                if not rows:
                    continue
                cols = TABLES[table].column_names
                stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    _qualified(table), sql.SQL(", ").join(sql.Identifier(c) for c in cols))
                with cur.copy(stmt) as copy:
                    for row in rows:
                        copy.write_row(tuple(row[c] for c in cols))
                loaded[table] = len(rows)
    return loaded


# --- live changes -------------------------------------------------------------------------------

ChangeKind = Literal["insert", "update", "delete"]


@dataclass(frozen=True)
class Change:
    """One SQL row change. ``key``: primary-key columns; ``values``: the full row for an
    insert, the changed columns for an update, empty for a delete. ``event`` names the
    business event it belongs to (move-in, move-out, edit, delete-party, delete-unit)."""

    kind: ChangeKind
    table: str
    key: dict[str, Any]
    values: dict[str, Any]
    event: str

    def describe(self) -> str:
        """A log line without personal data: kind, table, key, changed column names."""
        cols = ",".join(sorted(self.values)) if self.kind == "update" else ""
        return f"{self.event}: {self.kind} erp.{self.table} {self.key}" + (f" [{cols}]" if cols else "")


def live_changes(dataset: Dataset, seed: int, n: int, today: date | None = None) -> list[Change]:
    """A burst of ``n`` business events against ``dataset`` (one or more row changes each).

    Events: move-in (new person + contract on a unit without open tenant contract),
    move-out (open tenant contract ends before the grace period), edits (e-mail,
    phone), deletes (a co-tenant row; a unit with its contracts, co-tenants and
    documents). Deterministic in (dataset, seed, n, today). ``dataset`` is not modified;
    the burst is consistent with itself (no edit of a row deleted earlier in it).
    """
    today = today or dataset.today
    rng = random.Random(f"live-{seed}")
    T = dataset.tables
    persons = {p["person_id"]: p for p in T["person"]}
    units = {u["unit_id"]: u for u in T["unit"]}
    contracts = {c["contract_id"]: dict(c) for c in T["contract"]}
    parties = {(p["contract_id"], p["person_id"]) for p in T["contract_party"]}
    docs = {d["document_id"]: d for d in T["document"]}
    next_person = max(persons, default=0) + 1
    next_contract = max(contracts, default=0) + 1
    changes: list[Change] = []

    def now() -> datetime:
        return _ts(today, rng)

    def open_tenant(c: dict[str, Any]) -> bool:
        return c["contract_type"] == "TENANT" and c["end_date"] is None and c["start_date"] <= today

    for _ in range(n):
        roll = rng.random()
        if roll < 0.25:  # move-in
            occupied = {c["unit_id"] for c in contracts.values() if open_tenant(c)}
            free = sorted(u for u in units if u not in occupied and not units[u]["is_phantom"])
            if not free:
                continue
            u = units[rng.choice(free)]
            person = _person(rng, next_person, today, now(), person_type="TENANT")
            if person["email"] is None:
                person["email"] = f"neu{next_person}@example.com"
            persons[next_person] = person
            changes.append(Change("insert", "person", {"person_id": next_person}, dict(person), "move-in"))
            rent = _money(float(u["area"]) * rng.uniform(8, 15))
            c = _row("contract", contract_id=next_contract,
                     contract_no=f"{u['property_id']:04d}-{next_contract:06d}", contract_type="TENANT",
                     property_id=u["property_id"], unit_id=u["unit_id"], person_id=next_person,
                     start_date=today + timedelta(days=rng.randrange(0, 15)), end_date=None, rent_amount=rent,
                     deposit_amount=_money(float(rent) * 3), updated_at=now())
            contracts[next_contract] = c
            changes.append(Change("insert", "contract", {"contract_id": next_contract}, dict(c), "move-in"))
            next_person += 1
            next_contract += 1
        elif roll < 0.50:  # move-out, already beyond the grace period
            end = today - timedelta(days=GRACE_DAYS + rng.randrange(1, 60))
            candidates = sorted(cid for cid, c in contracts.items() if open_tenant(c) and c["start_date"] < end)
            if not candidates:
                continue
            cid = rng.choice(candidates)
            contracts[cid]["end_date"] = end
            changes.append(Change("update", "contract", {"contract_id": cid},
                                  {"end_date": end, "updated_at": now()}, "move-out"))
        elif roll < 0.85:  # contact edit
            if not persons:
                continue
            pid = rng.choice(sorted(persons))
            p = persons[pid]
            values: dict[str, Any]
            if rng.random() < 0.5:
                values = {"email": f"{_ascii(p['first_name'])}.{_ascii(p['last_name'])}.{rng.randrange(10, 99)}"
                                   f"@{rng.choice(_DOMAINS)}"}
            else:
                values = {"phone": f"+49 {rng.randrange(30, 999)} {rng.randrange(100000, 9999999)}"}
            values["updated_at"] = now()
            persons[pid] = {**p, **values}
            changes.append(Change("update", "person", {"person_id": pid}, values, "edit"))
        elif roll < 0.95:  # a co-tenant leaves the contract
            if not parties:
                continue
            ck = rng.choice(sorted(parties))
            parties.discard(ck)
            changes.append(Change("delete", "contract_party", {"contract_id": ck[0], "person_id": ck[1]}, {},
                                  "delete-party"))
        else:  # a unit is removed with its contracts
            if not units:
                continue
            unit_id = rng.choice(sorted(units))
            del units[unit_id]
            gone = sorted(cid for cid, c in contracts.items() if c["unit_id"] == unit_id)
            for ck in sorted(k for k in parties if k[0] in gone):
                parties.discard(ck)
                changes.append(Change("delete", "contract_party", {"contract_id": ck[0], "person_id": ck[1]}, {},
                                      "delete-unit"))
            for did in sorted(d for d, doc in docs.items() if doc["unit_id"] == unit_id or doc["contract_id"] in gone):
                del docs[did]
                changes.append(Change("delete", "document", {"document_id": did}, {}, "delete-unit"))
            for cid in gone:
                del contracts[cid]
                changes.append(Change("delete", "contract", {"contract_id": cid}, {}, "delete-unit"))
            changes.append(Change("delete", "unit", {"unit_id": unit_id}, {}, "delete-unit"))
    return changes


def apply_changes(conn: Any, changes: Iterable[Change]) -> int:
    """Run the changes as SQL against schema ``erp`` in one transaction; returns the count."""
    from psycopg import sql

    count = 0
    with conn.transaction():
        with conn.cursor() as cur:
            for ch in changes:
                where = sql.SQL(" AND ").join(
                    sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in ch.key)
                if ch.kind == "insert":
                    cols = list(ch.values)
                    stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        _qualified(ch.table), sql.SQL(", ").join(map(sql.Identifier, cols)),
                        sql.SQL(", ").join([sql.Placeholder() for _ in cols]))
                    cur.execute(stmt, [ch.values[c] for c in cols])
                elif ch.kind == "update":
                    sets = sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in ch.values)
                    cur.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(_qualified(ch.table), sets, where),
                                [*ch.values.values(), *ch.key.values()])
                else:
                    cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(_qualified(ch.table), where),
                                list(ch.key.values()))
                count += 1
    return count


def rows_of(dataset: Dataset, tables: Sequence[str] | None = None) -> Iterator[tuple[str, Row]]:
    """Every (table, row) in dependency order, optionally restricted to ``tables``."""
    for table, rows in dataset:
        if tables is None or table in tables:
            for row in rows:
                yield table, row
