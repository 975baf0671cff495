"""ERP (PostgreSQL) side of the benchmark: empty the reference schema, wait until Debezium
has captured that, bulk updates for recording CDC events, and the synced persons."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import sql

from bench.kafka_io import drop_history, end_offsets
from streams.cdc.topics import topics_by_table
from streams.demo.generate import Dataset, load
from streams.erp.schema import ERP_SCHEMA

MARKER_MANDANT = 2_000_000_001  # a Mandant no generated dataset uses


def empty_erp(conn: Any, bootstrap: str, prefix: str, timeout_s: float = 300.0) -> dict[str, int]:
    """Delete every row of the reference schema (ordinary DELETEs, captured by Debezium), then
    insert and delete a marker row and wait until its events reached the mandant topic.
    Debezium's single task emits changes in commit order, so the returned end offsets of all
    CDC topics lie after the deletes (a few may still trail; a worker ignores deletes of rows
    it never saw). The CDC records before them, which no phase reads, are deleted
    (``drop_history``)."""
    load(conn, Dataset(seed=0, scale=0.0, today=date.today()), replace=True)  # no rows: deletes only
    topics = topics_by_table(prefix)
    marker_topic = topics["mandant"]
    before = end_offsets(bootstrap, [marker_topic])[marker_topic]
    with conn.transaction():
        conn.execute("INSERT INTO erp.mandant (mandant_no, name) VALUES (%s, %s)", (MARKER_MANDANT, "bench marker"))
    with conn.transaction():
        conn.execute("DELETE FROM erp.mandant WHERE mandant_no = %s", (MARKER_MANDANT,))
    # insert + delete + tombstone
    wait_until(lambda: end_offsets(bootstrap, [marker_topic])[marker_topic] >= before + 3, timeout_s,
               "the marker row captured by Debezium")
    offsets = end_offsets(bootstrap, topics.values())
    drop_history(bootstrap, offsets)
    return offsets


@dataclass(frozen=True)
class UpdateRound:
    table: str
    rows: int


# (table, SET clause): every round touches every row of one table with a value unique to the round
_ROUNDS: tuple[tuple[str, str], ...] = (
    ("person", "phone = '+49 30 ' || (%(round)s * 1000000 + person_id)::text"),
    ("person", "email = 'bench' || %(round)s || '.' || person_id || '@example.org'"),
    ("unit", "name = 'Einheit ' || unit_id || ' r' || %(round)s"),
    ("contract", "rent_amount = 500 + %(round)s + (contract_id %% 100)"),
)


def bulk_update_round(conn: Any, round_no: int) -> UpdateRound:
    """One transaction updating every row of one table (person phone, person e-mail, unit
    name, contract rent, in turn). Returns the table and the number of rows changed."""
    table, assignment = _ROUNDS[round_no % len(_ROUNDS)]
    statement = sql.SQL("UPDATE {} SET " + assignment).format(sql.Identifier(ERP_SCHEMA, table))
    with conn.transaction():
        cur = conn.execute(statement, {"round": round_no})
        return UpdateRound(table, cur.rowcount)


def person_ids_by_no(conn: Any) -> dict[str, int]:
    return {str(no): int(pid) for pid, no in conn.execute("SELECT person_id, person_no FROM erp.person").fetchall()}


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:.0f}s")
        time.sleep(interval_s)
