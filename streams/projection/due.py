"""Days on which the projection changes without a row change, and the index of them.

Some rules read the day (R09 portal lead days and grace days, R13 unit and management
ends, R14 the unit's current contract). A row's projection therefore changes on days its
dates name, with no change in the ERP. ``due_days`` states those days once for every kind
of row; ``DueIndex`` keeps them for the rows the worker holds, so a daily tick re-projects
only the roots of rows due that day instead of every root.

A row's due day is the first day on which the answer differs from the day before:

- ``property.management_end`` E: synced through E, removed on E + 1;
- ``unit.valid_to`` E: synced through E, removed on E + 1;
- ``contract``: valid from ``start_date - portal_days_before_start``, removed on
  ``end_date + delete_after_days + 1``; it becomes the unit's current contract on
  ``start_date``;
- ``document`` created (``ticket`` reported) in year Y: under the time filter (R16, R17) it is
  synced through the end of year Y + 1 and removed on 1 January of Y + 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from streams.erp.rows import ContractRow, DocumentRow, ErpRow, Key, PropertyRow, TicketRow, UnitRow
from streams.projection.roots import DocumentRoot, PersonRoot, Root, TicketRoot, UnitRoot
from streams.projection.rules import ProjectionConfig
from streams.projection.state import ErpState

DUE_TABLES = frozenset({"property", "unit", "contract", "document", "ticket"})
ONE_DAY = timedelta(days=1)


def due_days(row: ErpRow, config: ProjectionConfig) -> set[date]:
    """The days on which ``row``'s effect on the projection changes by itself."""
    if isinstance(row, PropertyRow):
        return {row.management_end + ONE_DAY} if row.management_end is not None else set()
    if isinstance(row, UnitRow):
        return {row.valid_to + ONE_DAY} if row.valid_to is not None else set()
    if isinstance(row, ContractRow):
        days: set[date] = set()
        if row.start_date is not None:
            days.add(row.start_date - timedelta(days=config.portal_days_before_start))
            days.add(row.start_date)
        if row.end_date is not None:
            days.add(row.end_date + timedelta(days=config.delete_after_days) + ONE_DAY)
        return days
    if isinstance(row, DocumentRow):
        return {date(row.created_at.year + 2, 1, 1)} if row.created_at is not None else set()
    if isinstance(row, TicketRow):
        return {date(row.reported_at.year + 2, 1, 1)} if row.reported_at is not None else set()
    return set()


def roots_of_due_row(state: ErpState, table: str, key: Key) -> set[Root]:
    """The roots that read a due row (what to re-project on its due day); none once it is gone."""
    roots: set[Root] = set()
    row = state.get(table, key)
    if isinstance(row, PropertyRow):
        state.add_property_dependants(row.property_id, roots)
    elif isinstance(row, UnitRow):
        state.add_unit_dependants(row.unit_id, roots, persons=True)
    elif isinstance(row, ContractRow):
        roots.add(UnitRoot(row.unit_id))
        roots.update(PersonRoot(pid) for pid in state.persons_of_contract(row.contract_id))
    elif isinstance(row, DocumentRow):
        roots.add(DocumentRoot(row.document_id))
    elif isinstance(row, TicketRow):
        roots.add(TicketRoot(row.ticket_id))
    return roots


class DueIndex:
    """Due day -> (table, key) of the rows due that day, for rows folded after day ``since``.

    Entries are added when a row is stored and dropped only when their day is taken: an
    entry left by a row that changed its dates since is harmless (its roots are projected
    once more and give what casavi already holds).
    """

    def __init__(self, config: ProjectionConfig) -> None:
        self.config = config
        self.by_day: dict[date, set[tuple[str, Key]]] = {}

    def add(self, row: ErpRow, after: date | None = None) -> None:
        """Index ``row``'s due days (those after ``after`` only, when given)."""
        for day in due_days(row, self.config):
            if after is None or day > after:
                self.by_day.setdefault(day, set()).add((row.table, row.key))

    def take(self, today: date) -> set[tuple[str, Key]]:
        """Every indexed row due on or before ``today``; removed from the index."""
        rows: set[tuple[str, Key]] = set()
        for day in [d for d in self.by_day if d <= today]:
            rows |= self.by_day.pop(day)
        return rows

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_day.values())


def roots_due_in(state: ErpState, config: ProjectionConfig, rows: Iterable[ErpRow], since: date,
                 today: date) -> set[Root]:
    """Roots of ``rows`` due after day ``since`` and on or before ``today`` (a scan)."""
    roots: set[Root] = set()
    for row in rows:
        if any(since < d <= today for d in due_days(row, config)):
            roots |= roots_of_due_row(state, row.table, row.key)
    return roots
