"""ERP state: the fold of every row change, with the indexes the projection needs.

``ErpState`` holds the current row of every ERP table keyed by primary-key tuple and
keeps secondary indexes (units by property, contracts by person, …) so that finding
what a change affects never scans a table. ``apply(change)`` folds one
:class:`~streams.cdc.model.RowChange` and returns the projection roots whose output
may have changed; the worker re-projects exactly those (``project_root``) and diffs
them against what it emitted last.

Affected roots are computed from both the stored old row and the new row, so a unit
moved to another property, or a contract moved to another unit, touches both sides.
Changes that cannot alter anything outside their own document (a renamed property, a
new phone number) return only their own root. A change that leaves the row as it was
(a replay) returns no root at all.

Rows may arrive in any order: a contract before its person, a unit before its
property. The indexes are keyed by foreign-key values, not by the referenced row, so
when the referenced row arrives later its change finds the dependants and returns
their roots. The state is therefore the same whatever the order, and so is the
projection (R21).

For a restart, the worker rebuilds the state from its persisted rows with
``set_row``/``remove_row`` or ``dump``/``load``.

Given a ``RowSource`` (the worker's state table) the state runs in *store mode*
(``streams.projection.stored``): it keeps the keys of every table and the indexes in memory and
reads rows from the state table when asked; ``new_batch`` marks where the rows written before
have reached the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from operator import attrgetter
from typing import Any, cast

from streams.cdc.model import RowChange
from streams.erp.rows import (
    ROW_MODELS,
    BuildingRow,
    CaretakerRow,
    ContractPartyRow,
    ContractRow,
    DocumentRow,
    DocumentTypeRow,
    ErpRow,
    Key,
    MandantRow,
    PersonRow,
    PersonTypeRow,
    PropertyOwnerRow,
    PropertyRow,
    PropertyUserRow,
    StaffUserRow,
    TeamMemberRow,
    TeamRow,
    TicketDocumentRow,
    TicketNoteRow,
    TicketPriorityRow,
    TicketRow,
    TicketStatusRow,
    TicketTypeRow,
    UnitRow,
    UnknownTable,
    normalize_key,
    parse_row,
    row_columns,
    row_dict,
)
from streams.projection.multimap import MultiMap
from streams.projection.shared import SharedValues
from streams.projection.stored import RowCache, RowSource, StoredTable
from streams.projection.roots import DocumentRoot, PersonRoot, PropertyRoot, Root, StaffRoot, TicketRoot, UnitRoot


class _Index(MultiMap[int]):
    """A foreign-key value -> the ids of the rows naming it."""


# Columns whose change can alter documents of other roots; a change of any other column
# only re-projects the row's own root.
_PROPERTY_STRUCTURAL = ("mandant_no", "property_no", "management_end")
_BUILDING_ADDRESS = ("street", "house_no", "postal_code", "city")
_UNIT_STRUCTURAL = ("property_id", "is_phantom", "valid_to")
_CONTRACT_FOR_PERSONS = ("contract_type", "unit_id", "person_id", "start_date", "end_date")
# person columns that decide whether their contracts (and so the contracts' other parties) are
# synced or name them: presence aside, the number, having an e-mail, anonymization, the type
_PERSON_FOR_CONTRACTS = ("person_no", "has_email", "is_anonymized", "type_key")
_STAFF_FOR_RESPONSIBILITIES = ("user_no", "active", "has_name")  # what decides whether the staff user is synced


def _changed(old: ErpRow | None, new: ErpRow | None, cols: tuple[str, ...]) -> bool:
    if old is None or new is None:
        return old is not new
    return any(getattr(old, c) != getattr(new, c) for c in cols)


# table -> (index attribute, key column, value column): the secondary indexes of ErpState
_INDEXED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "property": (("properties_by_mandant", "mandant_no", "property_id"),),
    "building": (("buildings_by_property", "property_id", "building_id"),),
    "unit": (("units_by_property", "property_id", "unit_id"), ("units_by_building", "building_id", "unit_id")),
    "contract": (("contracts_by_unit", "unit_id", "contract_id"), ("contracts_by_person", "person_id", "contract_id")),
    "contract_party": (("parties_by_contract", "contract_id", "person_id"),
                       ("parties_by_person", "person_id", "contract_id")),
    "person": (("persons_by_type", "type_key", "person_id"), ("persons_by_email", "email_key", "person_id")),
    "property_owner": (("owners_by_property", "property_id", "person_id"),
                       ("owned_by_person", "person_id", "property_id")),
    "caretaker": (("caretakers_by_property", "property_id", "person_id"),
                  ("caretaken_by_person", "person_id", "property_id")),
    "property_user": (("users_by_property", "property_id", "user_id"), ("user_rights_by_user", "user_id", "property_id")),
    "team_member": (("members_by_team", "team_id", "user_id"), ("teams_by_user", "user_id", "team_id")),
    "document": (("documents_by_property", "property_id", "document_id"), ("documents_by_unit", "unit_id", "document_id"),
                 ("documents_by_contract", "contract_id", "document_id"),
                 ("documents_by_person", "person_id", "document_id"),
                 ("documents_by_type", "document_type_code", "document_id")),
    "ticket": (("tickets_by_property", "property_id", "ticket_id"), ("tickets_by_unit", "unit_id", "ticket_id"),
               ("tickets_by_reporter", "reporter_person_id", "ticket_id"),
               ("tickets_by_responsible", "responsible_user_id", "ticket_id"),
               ("tickets_by_team", "responsible_team_id", "ticket_id"), ("tickets_by_type", "ticket_type_code", "ticket_id"),
               ("tickets_by_status", "status_code", "ticket_id"), ("tickets_by_priority", "priority_code", "ticket_id")),
    "ticket_note": (("notes_by_ticket", "ticket_id", "note_id"),),
    "ticket_document": (("documents_by_ticket", "ticket_id", "document_id"),
                        ("tickets_by_document", "document_id", "ticket_id")),
}
_INDEXED["property"] += (("properties_by_team", "team_id", "property_id"),)
_INDEX_NAMES = tuple(index for indexes in _INDEXED.values() for index, _, _ in indexes)
# every index names a key column of its row as the value, and either both values are key columns
# or the value is the whole key: ``forget_rows`` finds a row's entries by its key alone
assert all(value_col in ROW_MODELS[table].primary_key
           and (key_col in ROW_MODELS[table].primary_key or ROW_MODELS[table].primary_key == (value_col,))
           for table, indexes in _INDEXED.items() for _, key_col, value_col in indexes)


def _unattached(table: str, key: Key) -> Mapping[str, Any] | None:
    raise RuntimeError("a state loaded from an image reads rows only once attached to its state table")


class ErpState:
    """ERP state with secondary indexes. Not thread-safe; one per worker. Without ``source``
    every row is held in memory; with it (store mode) only the keys and about ``cache_rows``
    rows read or written lately (the rows written since ``new_batch`` always)."""

    def __init__(self, source: RowSource | None = None, cache_rows: int = 100_000) -> None:
        self.cache: RowCache | None = None
        self._tables: dict[str, MutableMapping[Key, ErpRow]]
        if source is None:
            self._tables = {t: {} for t in ROW_MODELS}
        else:
            cache = self.cache = RowCache(cache_rows)
            self._tables = {t: StoredTable(t, source, cache) for t in ROW_MODELS}
        # one object per repeated column value (rows held in memory only)
        self._shared: SharedValues | None = SharedValues() if source is None else None
        # typed views of the same tables
        self.mandants = cast(MutableMapping[Key, MandantRow], self._tables["mandant"])
        self.properties = cast(MutableMapping[Key, PropertyRow], self._tables["property"])
        self.buildings = cast(MutableMapping[Key, BuildingRow], self._tables["building"])
        self.units = cast(MutableMapping[Key, UnitRow], self._tables["unit"])
        self.person_types = cast(MutableMapping[Key, PersonTypeRow], self._tables["person_type"])
        self.persons = cast(MutableMapping[Key, PersonRow], self._tables["person"])
        self.contracts = cast(MutableMapping[Key, ContractRow], self._tables["contract"])
        self.contract_parties = cast(MutableMapping[Key, ContractPartyRow], self._tables["contract_party"])
        self.property_owners = cast(MutableMapping[Key, PropertyOwnerRow], self._tables["property_owner"])
        self.caretakers = cast(MutableMapping[Key, CaretakerRow], self._tables["caretaker"])
        self.staff_users = cast(MutableMapping[Key, StaffUserRow], self._tables["staff_user"])
        self.teams = cast(MutableMapping[Key, TeamRow], self._tables["team"])
        self.team_members = cast(MutableMapping[Key, TeamMemberRow], self._tables["team_member"])
        self.property_users = cast(MutableMapping[Key, PropertyUserRow], self._tables["property_user"])
        self.document_types = cast(MutableMapping[Key, DocumentTypeRow], self._tables["document_type"])
        self.documents = cast(MutableMapping[Key, DocumentRow], self._tables["document"])
        self.ticket_types = cast(MutableMapping[Key, TicketTypeRow], self._tables["ticket_type"])
        self.ticket_statuses = cast(MutableMapping[Key, TicketStatusRow], self._tables["ticket_status"])
        self.ticket_priorities = cast(MutableMapping[Key, TicketPriorityRow], self._tables["ticket_priority"])
        self.tickets = cast(MutableMapping[Key, TicketRow], self._tables["ticket"])
        self.ticket_notes = cast(MutableMapping[Key, TicketNoteRow], self._tables["ticket_note"])
        # secondary indexes
        self.properties_by_mandant = _Index()  # mandant_no -> property_id
        self.buildings_by_property = _Index()  # property_id -> building_id
        self.units_by_property = _Index()  # property_id -> unit_id
        self.units_by_building = _Index()  # building_id -> unit_id
        self.contracts_by_unit = _Index()  # unit_id -> contract_id
        self.contracts_by_person = _Index()  # main party person_id -> contract_id
        self.parties_by_contract = _Index()  # contract_id -> person_id (contract_party)
        self.parties_by_person = _Index()  # person_id -> contract_id (contract_party)
        self.persons_by_type = _Index()  # person_type_code ("" for none) -> person_id
        self.persons_by_email = _Index()  # e-mail address, case and blanks ignored -> person_id (R08)
        self.properties_by_team = _Index()  # team_id -> property_id
        self.owners_by_property = _Index()  # property_id -> person_id (property_owner)
        self.owned_by_person = _Index()  # person_id -> property_id (property_owner)
        self.caretakers_by_property = _Index()  # property_id -> person_id (caretaker)
        self.caretaken_by_person = _Index()  # person_id -> property_id (caretaker)
        self.users_by_property = _Index()  # property_id -> user_id (property_user)
        self.user_rights_by_user = _Index()  # user_id -> property_id (property_user)
        self.members_by_team = _Index()  # team_id -> user_id (team_member)
        self.teams_by_user = _Index()  # user_id -> team_id (team_member)
        self.documents_by_property = _Index()  # property_id -> document_id
        self.documents_by_unit = _Index()  # unit_id -> document_id
        self.documents_by_contract = _Index()  # contract_id -> document_id
        self.documents_by_person = _Index()  # person_id -> document_id
        self.documents_by_type = _Index()  # document_type_code -> document_id
        self.tickets_by_property = _Index()  # property_id -> ticket_id
        self.tickets_by_unit = _Index()  # unit_id -> ticket_id
        self.tickets_by_reporter = _Index()  # reporter_person_id -> ticket_id
        self.tickets_by_responsible = _Index()  # responsible_user_id -> ticket_id
        self.tickets_by_team = _Index()  # responsible_team_id -> ticket_id
        self.tickets_by_type = _Index()  # ticket_type_code -> ticket_id
        self.tickets_by_status = _Index()  # status_code -> ticket_id
        self.tickets_by_priority = _Index()  # priority_code -> ticket_id
        self.notes_by_ticket = _Index()  # ticket_id -> note_id
        self.documents_by_ticket = _Index()  # ticket_id -> document_id (ticket_document)
        self.tickets_by_document = _Index()  # document_id -> ticket_id (ticket_document)

    # --- typed lookups --------------------------------------------------------------------

    def mandant(self, mandant_no: int) -> MandantRow | None:
        return self.mandants.get((mandant_no,))

    def property(self, property_id: int) -> PropertyRow | None:
        return self.properties.get((property_id,))

    def building(self, building_id: int) -> BuildingRow | None:
        return self.buildings.get((building_id,))

    def unit(self, unit_id: int) -> UnitRow | None:
        return self.units.get((unit_id,))

    def person(self, person_id: int) -> PersonRow | None:
        return self.persons.get((person_id,))

    def contract(self, contract_id: int) -> ContractRow | None:
        return self.contracts.get((contract_id,))

    def contract_party(self, contract_id: int, person_id: int) -> ContractPartyRow | None:
        return self.contract_parties.get((contract_id, person_id))

    def staff_user(self, user_id: int) -> StaffUserRow | None:
        return self.staff_users.get((user_id,))

    def team(self, team_id: int) -> TeamRow | None:
        return self.teams.get((team_id,))

    def property_user(self, property_id: int, user_id: int) -> PropertyUserRow | None:
        return self.property_users.get((property_id, user_id))

    def document(self, document_id: int) -> DocumentRow | None:
        return self.documents.get((document_id,))

    def document_type(self, code: str) -> DocumentTypeRow | None:
        return self.document_types.get((code,))

    def ticket(self, ticket_id: int) -> TicketRow | None:
        return self.tickets.get((ticket_id,))

    def ticket_type(self, code: str) -> TicketTypeRow | None:
        return self.ticket_types.get((code,))

    def ticket_status(self, code: str) -> TicketStatusRow | None:
        return self.ticket_statuses.get((code,))

    def ticket_priority(self, code: str) -> TicketPriorityRow | None:
        return self.ticket_priorities.get((code,))

    def ticket_note(self, note_id: int) -> TicketNoteRow | None:
        return self.ticket_notes.get((note_id,))

    def get(self, table: str, key: Key) -> ErpRow | None:
        return self._table(table).get(normalize_key(table, key))

    def rows(self, table: str) -> Mapping[Key, ErpRow]:
        return self._table(table)

    def key_values(self, table: str) -> list[Any]:
        """The keys of a table with a one-column key, as values, copied (no row is read)."""
        t = self._table(table)
        return list(t.keys_) if isinstance(t, StoredTable) else [k[0] for k in t]

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    # --- folding --------------------------------------------------------------------------

    def apply(self, change: RowChange) -> set[Root]:
        """Fold one row change; return the roots whose projection may have changed.

        ``c``/``r``/``u`` store ``after`` (an update whose key changed also removes the
        row under the old key); ``d`` removes the row named by ``key`` (or ``before``).
        Raises ``RowSchemaError``/``UnknownTable`` for a row that breaks the schema; the
        state is then unchanged.
        """
        table = change.table
        t = self._table(table)
        if change.op == "d":
            key = self._delete_key(change)
            return self._remove(table, t, key)
        if change.after is None:
            raise ValueError(f"change of erp.{table} with op {change.op!r} has no row after it")
        row = self._share(parse_row(table, change.after))
        roots: set[Root] = set()
        if change.op == "u" and change.before is not None:
            old_key = self._key_from(table, change.before)
            if old_key is not None and old_key != row.key:
                roots |= self._remove(table, t, old_key)
        roots |= self._put(table, t, row)
        return roots

    def set_row(self, table: str, row: Mapping[str, Any] | ErpRow) -> ErpRow:
        """Store one row while rebuilding from a persisted table: what it affects is not
        computed (``apply`` does that for a change). Returns the row as stored."""
        t = self._table(table)
        parsed = row if isinstance(row, ErpRow) else self._share(parse_row(table, row))
        if parsed.table != table:
            raise ValueError(f"a row of erp.{parsed.table} cannot be stored in erp.{table}")
        old = t.get(parsed.key)
        if old is not None:
            self._unindex(old)
        if isinstance(t, StoredTable):  # the state table holds the row already
            t.stored(parsed.key)
        else:
            t[parsed.key] = parsed
        self._index(parsed)
        return parsed

    def forget_rows(self, table: str, keys: Iterable[Key]) -> None:
        """Take rows out of the state without computing what they affect, also in store mode
        where the state table may hold a newer row than the state knew under the key (a start
        from an image and the table writes after it): index entries of such a row are found by
        its key, not by its old values. ``set_row`` then stores the row the table holds."""
        t = self._table(table)
        keys = [normalize_key(table, k) for k in keys]
        if not isinstance(t, StoredTable):
            for key in keys:
                self._remove(table, t, key)
            return
        pk = ROW_MODELS[table].primary_key
        gone: set[Any] = set()
        for key in keys:
            if key in t:
                t.forget(key)
                gone.add(key[0] if len(pk) == 1 else key)
        if not gone:
            return
        for index, key_col, value_col in _INDEXED.get(table, ()):
            entries: MultiMap[Any] = getattr(self, index)
            if key_col in pk:  # both of the entry's values are in the key (a key of several columns)
                for key in gone:
                    values = dict(zip(pk, key))
                    entries.discard(values[key_col], values[value_col])
            else:  # the value is the row's one key column (``_INDEXED``): dropped under any key
                entries.discard_values(gone)

    def new_batch(self) -> None:
        """Store mode: the rows written so far are in the state table now (the worker carried
        the batch out); they may leave memory."""
        if self.cache is not None:
            self.cache.age()

    def remove_row(self, table: str, key: Key) -> set[Root]:
        t = self._table(table)
        return self._remove(table, t, normalize_key(table, key))

    def _share(self, row: ErpRow) -> ErpRow:
        return row if self._shared is None else self._shared.share(row)

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every stored row as plain column dicts, per table (non-empty tables only)."""
        return {name: [row_dict(r) for r in t.values()] for name, t in self._tables.items() if t}

    @classmethod
    def load(cls, data: Mapping[str, Iterable[Mapping[str, Any]]]) -> ErpState:
        state = cls()
        for table, rows in data.items():
            for row in rows:
                state.set_row(table, row)
        return state

    # --- pickling (the worker's state image, ``streams.worker.image``) ------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The rows as one list of values per table and column (a row pickled as itself would
        go through the dataclass's field-by-field state: several times slower; a tuple per row
        would leave a restarted worker's heap with a million freed tuples between the rows
        built after them: 160 MiB more RSS at a million rows than the same state folded),
        the indexes and the shared values as they are. Equal values stay one
        object: pickle writes each object once. In store mode the keys of each table instead
        of its rows: the state table holds them (``attach`` names it again after loading)."""
        indexes = {index: getattr(self, index) for index in _INDEX_NAMES}
        if self.cache is not None:
            return {"keys": {name: cast(StoredTable, t).keys_ for name, t in self._tables.items() if t},
                    "cache_rows": self.cache.max_items, "indexes": indexes}
        tables = {}
        for name, t in self._tables.items():
            if t:
                rows = t.values()
                tables[name] = [list(map(attrgetter(c), rows)) for c in row_columns(name)]
        return {"tables": tables, "shared": self._shared, "indexes": indexes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The rows rebuilt without validation: they were validated when they were folded."""
        if "keys" in state:  # store mode
            self.__init__(source=_unattached, cache_rows=state["cache_rows"])  # type: ignore[misc]
            for name, keys in state["keys"].items():
                cast(StoredTable, self._tables[name]).keys_ = keys
            for index, value in state["indexes"].items():
                setattr(self, index, value)
            return
        self.__init__()  # type: ignore[misc]
        tables: dict[str, list[list[Any]]] = state["tables"]
        for name, columns in tables.items():
            model = ROW_MODELS[name]
            setters = [getattr(model, c).__set__ for c in row_columns(name)]
            key_of = attrgetter(*model.primary_key)
            single = len(model.primary_key) == 1
            t = self._tables[name]
            new = object.__new__
            for values in zip(*columns):
                row = new(model)
                for set_value, value in zip(setters, values):
                    set_value(row, value)
                key = key_of(row)
                t[(key,) if single else key] = row
        self._shared = state["shared"]
        for index, value in state["indexes"].items():
            setattr(self, index, value)

    def attach(self, source: RowSource) -> None:
        """Store mode, after loading an image: where the rows are read from."""
        for t in self._tables.values():
            if isinstance(t, StoredTable):
                t.source = source

    def iter_rows(self) -> Iterator[tuple[str, ErpRow]]:
        for name, t in self._tables.items():
            for r in t.values():
                yield name, r

    # --- internals ------------------------------------------------------------------------

    def _table(self, table: str) -> MutableMapping[Key, ErpRow]:
        t = self._tables.get(table)
        if t is None:
            raise UnknownTable(table)
        return t

    @staticmethod
    def _key_from(table: str, row: Mapping[str, Any]) -> Key | None:
        pk = ROW_MODELS[table].primary_key
        if not all(c in row and row[c] is not None for c in pk):
            return None
        return normalize_key(table, tuple(row[c] for c in pk))

    def _delete_key(self, change: RowChange) -> Key:
        if change.key:
            return normalize_key(change.table, change.key)
        if change.before is not None:
            key = self._key_from(change.table, change.before)
            if key is not None:
                return key
        raise ValueError(f"delete of erp.{change.table} names no key")

    def _put(self, table: str, t: MutableMapping[Key, ErpRow], row: ErpRow) -> set[Root]:
        key = row.key
        old = t.get(key)
        if old is not None and old == row:
            return set()
        if old is not None:
            self._unindex(old)
        t[key] = row
        self._index(row)
        return self._affected(table, old, row)

    def _remove(self, table: str, t: MutableMapping[Key, ErpRow], key: Key) -> set[Root]:
        old = t.pop(key, None)
        if old is None:
            return set()
        self._unindex(old)
        return self._affected(table, old, None)

    def _index(self, row: ErpRow) -> None:
        for index, key_col, value_col in _INDEXED.get(row.table, ()):
            getattr(self, index).add(getattr(row, key_col), getattr(row, value_col))

    def _unindex(self, row: ErpRow) -> None:
        for index, key_col, value_col in _INDEXED.get(row.table, ()):
            getattr(self, index).discard(getattr(row, key_col), getattr(row, value_col))

    # --- dependencies ---------------------------------------------------------------------
    # What each root reads (see rules.py):
    #   PropertyRoot: property, its mandant, its buildings; its responsibilities: the
    #                 property's user rights, its team with the team's members, and the
    #                 staff rows of those users.
    #   UnitRoot:     unit, its property (+ mandant), its building, its contracts, the
    #                 main party and the parties of each contract.
    #   PersonRoot:   person; every contract naming them (as main party or party) with
    #                 that contract's unit, property, mandant and main party; the properties
    #                 they own or take care of; the persons sharing their e-mail address
    #                 (R08: ``project.with_email_peers`` adds those to every plan).
    #   StaffRoot:    the staff row.
    #   DocumentRoot: the document, its type; whether what it is shared with is synced: its
    #                 property, unit, contract or person (as their roots decide it) — the
    #                 roots of those read it through ``dependants`` (``project.with_dependants``).
    #   TicketRoot:   the ticket, its type, status, priority, team, notes, ticket documents and
    #                 those documents; whether its property, unit, reporter and responsible
    #                 user are synced (``dependants`` again).
    # The functions below return, for a changed row, every root that reads it.

    def _affected(self, table: str, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        fn = _AFFECTED.get(table)
        return fn(self, old, new) if fn is not None else set()

    def persons_of_contract(self, contract_id: int) -> set[int]:
        """Main party and every contract party of a contract (ids, rows may be absent)."""
        out = set(self.parties_by_contract.of(contract_id))
        c = self.contract(contract_id)
        if c is not None:
            out.add(c.person_id)
        return out

    def add_unit_dependants(self, unit_id: int, roots: set[Root], *, persons: bool) -> None:
        roots.add(UnitRoot(unit_id))
        if persons:
            for cid in self.contracts_by_unit.of(unit_id):
                for pid in self.persons_of_contract(cid):
                    roots.add(PersonRoot(pid))

    def add_property_dependants(self, property_id: int, roots: set[Root]) -> None:
        """Everything whose projection follows whether the property is synced."""
        roots.add(PropertyRoot(property_id))
        for uid in self.units_by_property.of(property_id):
            self.add_unit_dependants(uid, roots, persons=True)
        for pid in self.owners_by_property.of(property_id):
            roots.add(PersonRoot(pid))
        for pid in self.caretakers_by_property.of(property_id):
            roots.add(PersonRoot(pid))

    def add_person_dependants(self, person_id: int, roots: set[Root]) -> None:
        """The person and what follows whether they are synced or named: the units of their
        contracts, and the other parties of contracts where they are main party (R06, R07
        and R11 decide on the main party whether the contract, and so its parties, are synced)."""
        roots.add(PersonRoot(person_id))
        for cid in self.contracts_by_person.of(person_id):
            c = self.contract(cid)
            if c is not None:
                roots.add(UnitRoot(c.unit_id))
            for other in self.parties_by_contract.of(cid):
                roots.add(PersonRoot(other))
        for cid in self.parties_by_person.of(person_id):
            c = self.contract(cid)
            if c is not None:
                roots.add(UnitRoot(c.unit_id))

    def add_staff_dependants(self, user_id: int, roots: set[Root]) -> None:
        """The staff member and the properties whose responsibilities name them."""
        roots.add(StaffRoot(user_id))
        roots.update(PropertyRoot(pid) for pid in self.user_rights_by_user.of(user_id))
        for tid in self.teams_by_user.of(user_id):
            roots.update(PropertyRoot(pid) for pid in self.properties_by_team.of(tid))

    def dependants(self, root: Root) -> Iterator[Root]:
        """The roots that read whether ``root``'s entities are synced: the documents of a
        property, of a unit and its contracts, of a person (R16); the tickets of a property, a
        unit, a reporter, a responsible user (R17). Whatever makes a property, unit, contract,
        person or staff member be projected again makes these be projected again too."""
        if isinstance(root, PropertyRoot):
            yield from (DocumentRoot(d) for d in self.documents_by_property.of(root.property_id))
        elif isinstance(root, UnitRoot):
            yield from (DocumentRoot(d) for d in self.documents_by_unit.of(root.unit_id))
            for cid in self.contracts_by_unit.of(root.unit_id):
                yield from (DocumentRoot(d) for d in self.documents_by_contract.of(cid))
        elif isinstance(root, PersonRoot):
            yield from (DocumentRoot(d) for d in self.documents_by_person.of(root.person_id))
        if isinstance(root, PropertyRoot):
            yield from (TicketRoot(t) for t in self.tickets_by_property.of(root.property_id))
        elif isinstance(root, UnitRoot):
            yield from (TicketRoot(t) for t in self.tickets_by_unit.of(root.unit_id))
        elif isinstance(root, PersonRoot):
            yield from (TicketRoot(t) for t in self.tickets_by_reporter.of(root.person_id))
        elif isinstance(root, StaffRoot):
            yield from (TicketRoot(t) for t in self.tickets_by_responsible.of(root.user_id))

    def email_peers(self, person_id: int) -> Iterable[int]:
        """The persons sharing this person's e-mail address (R08), the person included."""
        p = self.person(person_id)
        key = p.email_key if p is not None else None
        return self.persons_by_email.of(key) if key is not None else (person_id,)

    def shared_email_keys(self) -> Iterator[str]:
        """E-mail keys (``PersonRow.email_key``) that more than one person has (R08)."""
        return iter(self.persons_by_email.shared())

    def _aff_mandant(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        roots: set[Root] = set()
        if (old is None) == (new is None):  # renamed: the name is in no document
            return roots
        row = cast(MandantRow, old or new)
        for pid in self.properties_by_mandant.of(row.mandant_no):
            self.add_property_dependants(pid, roots)
        return roots

    def _aff_property(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        row = cast(PropertyRow, old or new)
        if not _changed(old, new, _PROPERTY_STRUCTURAL):
            return {PropertyRoot(row.property_id)}
        roots: set[Root] = set()
        self.add_property_dependants(row.property_id, roots)
        return roots

    def _aff_building(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        o, n = cast(BuildingRow | None, old), cast(BuildingRow | None, new)
        roots: set[Root] = set()
        for b in (o, n):
            if b is not None:
                roots.add(PropertyRoot(b.property_id))
        if _changed(o, n, _BUILDING_ADDRESS):
            bid = (o or n).building_id  # type: ignore[union-attr]
            for uid in self.units_by_building.of(bid):
                roots.add(UnitRoot(uid))
        return roots

    def _aff_unit(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        row = cast(UnitRow, old or new)
        roots: set[Root] = set()
        self.add_unit_dependants(row.unit_id, roots, persons=_changed(old, new, _UNIT_STRUCTURAL))
        return roots

    def _aff_contract(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        o, n = cast(ContractRow | None, old), cast(ContractRow | None, new)
        roots: set[Root] = set()
        for c in (o, n):
            if c is not None:
                roots.add(UnitRoot(c.unit_id))
        if _changed(o, n, _CONTRACT_FOR_PERSONS):
            for c in (o, n):
                if c is not None:
                    roots.add(PersonRoot(c.person_id))
            cid = (o or n).contract_id  # type: ignore[union-attr]
            for pid in self.parties_by_contract.of(cid):
                roots.add(PersonRoot(pid))
        return roots

    def _aff_contract_party(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        row = cast(ContractPartyRow, old or new)
        roots: set[Root] = {PersonRoot(row.person_id)}
        c = self.contract(row.contract_id)
        if c is not None:
            roots.add(UnitRoot(c.unit_id))
        return roots

    def _aff_person(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        o, n = cast(PersonRow | None, old), cast(PersonRow | None, new)
        pid = cast(PersonRow, o or n).person_id
        roots: set[Root] = {PersonRoot(pid)}
        if o is not None and (n is None or o.email_key != n.email_key) and o.email_key is not None:
            # R08: whoever shared the old address may hold it now (the new address's peers are
            # added by every plan, see ``project.with_email_peers``)
            roots.update(PersonRoot(peer) for peer in self.persons_by_email.of(o.email_key))
        if _changed(o, n, _PERSON_FOR_CONTRACTS):
            self.add_person_dependants(pid, roots)
        return roots

    def _aff_owner(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        # property_owner and caretaker: the person is synced through the property (R10)
        return {PersonRoot(cast(PropertyOwnerRow | CaretakerRow, r).person_id) for r in (old, new) if r is not None}

    def _aff_staff_user(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        row = cast(StaffUserRow, old or new)
        roots: set[Root] = {StaffRoot(row.user_id)}
        if _changed(old, new, _STAFF_FOR_RESPONSIBILITIES):
            self.add_staff_dependants(row.user_id, roots)
        return roots

    def _aff_team(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        row = cast(TeamRow | TeamMemberRow, old or new)
        return {PropertyRoot(pid) for pid in self.properties_by_team.of(row.team_id)}

    def _aff_team_row(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        # a team: its properties' responsibilities and its tickets (the team's name, R17)
        roots = self._aff_team(old, new)
        roots.update(TicketRoot(t) for t in self.tickets_by_team.of(cast(TeamRow, old or new).team_id))
        return roots

    def _aff_team_member(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        roots: set[Root] = set()
        for r in (old, new):
            if r is not None:
                roots |= self._aff_team(r, r)
        return roots

    def _aff_property_user(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        return {PropertyRoot(cast(PropertyUserRow, r).property_id) for r in (old, new) if r is not None}


    def _aff_document(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        document_id = cast(DocumentRow, old or new).document_id
        roots: set[Root] = {DocumentRoot(document_id)}
        roots.update(TicketRoot(t) for t in self.tickets_by_document.of(document_id))  # attachments (R17)
        return roots

    def _aff_ticket(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        return {TicketRoot(cast(TicketRow, old or new).ticket_id)}

    def _aff_ticket_part(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        # ticket_note and ticket_document: the ticket of the old and the new row
        ids = {cast(TicketNoteRow | TicketDocumentRow, r).ticket_id for r in (old, new) if r is not None}
        return {TicketRoot(t) for t in ids if t is not None}

    def _aff_ticket_lookup(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        # ticket_type, ticket_status, ticket_priority: the tickets naming the code
        row = old or new
        index, code = {
            "ticket_type": (self.tickets_by_type, "ticket_type_code"),
            "ticket_status": (self.tickets_by_status, "status_code"),
            "ticket_priority": (self.tickets_by_priority, "priority_code"),
        }[cast(ErpRow, row).table]
        return {TicketRoot(t) for t in index.of(getattr(row, code))}

    def _aff_document_type(self, old: ErpRow | None, new: ErpRow | None) -> set[Root]:
        code = cast(DocumentTypeRow, old or new).document_type_code
        return {DocumentRoot(d) for d in self.documents_by_type.of(code)}


# person_type rows only name the types: the configuration names the enabled codes (R06), so
# no document reads them.
_AFFECTED = {
    "mandant": ErpState._aff_mandant,
    "property": ErpState._aff_property,
    "building": ErpState._aff_building,
    "unit": ErpState._aff_unit,
    "contract": ErpState._aff_contract,
    "contract_party": ErpState._aff_contract_party,
    "person": ErpState._aff_person,
    "property_owner": ErpState._aff_owner,
    "caretaker": ErpState._aff_owner,
    "staff_user": ErpState._aff_staff_user,
    "team": ErpState._aff_team_row,
    "team_member": ErpState._aff_team_member,
    "property_user": ErpState._aff_property_user,
    "document": ErpState._aff_document,
    "document_type": ErpState._aff_document_type,
    "ticket": ErpState._aff_ticket,
    "ticket_note": ErpState._aff_ticket_part,
    "ticket_document": ErpState._aff_ticket_part,
    "ticket_type": ErpState._aff_ticket_lookup,
    "ticket_status": ErpState._aff_ticket_lookup,
    "ticket_priority": ErpState._aff_ticket_lookup,
}
