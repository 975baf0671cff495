"""Unchanged large columns that Debezium does not send: the placeholder never reaches the state.

The events are records captured from the real PostgreSQL connector
(``tests/fixtures/debezium/postgres_captured``) with the columns Debezium leaves out of an
update set to its ``unavailable.value.placeholder``: as text for a text column, as the
base64 of the text's bytes for a binary column (``binary.handling.mode=bytes``), which
is what the PostgreSQL connector sends for an unchanged TOASTed value and the SQL Server
connector for an unchanged ``nvarchar(max)``/``varbinary(max)`` column.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

from streams.cdc.decode import DEFAULT_PLACEHOLDER, Decoder, decode
from streams.cdc.model import UNAVAILABLE, RowChange
from streams.erp.rows import content_digest, row_dict
from streams.settings import SyncSettings
from streams.worker.processor import Processor

CAPTURED = Path(__file__).parents[1] / "fixtures" / "debezium" / "postgres_captured"
B64_PLACEHOLDER = base64.b64encode(DEFAULT_PLACEHOLDER.encode()).decode()


def record(name: str) -> dict[str, Any]:
    return json.loads((CAPTURED / name).read_text())


def as_change(r: dict[str, Any], decoder: Decoder | None = None) -> RowChange:
    enc = lambda d: None if d is None else json.dumps(d).encode()  # noqa: E731
    fn = decoder.decode if decoder else decode
    out = fn(r["topic"], r["partition"], r["offset"], enc(r["key"]), enc(r["value"]))
    assert isinstance(out, RowChange)
    return out


def with_lsn(r: dict[str, Any], lsn: int) -> dict[str, Any]:
    r = copy.deepcopy(r)
    r["value"]["payload"]["source"]["lsn"] = lsn
    r["offset"] += 1
    return r


def test_placeholder_text_and_bytes_decode_to_the_marker() -> None:
    r = record("document_02_u.json")
    r["value"]["payload"]["after"]["content"] = B64_PLACEHOLDER
    r["value"]["payload"]["after"]["name"] = DEFAULT_PLACEHOLDER
    r["value"]["payload"]["before"]["content"] = B64_PLACEHOLDER
    change = as_change(r)
    assert change.after is not None and change.before is not None
    assert change.after["content"] is UNAVAILABLE
    assert change.after["name"] is UNAVAILABLE
    assert change.before["content"] is UNAVAILABLE


def test_placeholder_follows_the_setting() -> None:
    r = record("document_02_u.json")
    r["value"]["payload"]["after"]["name"] = "~~unavailable~~"
    assert as_change(r).after["name"] == "~~unavailable~~"  # type: ignore[index]
    assert as_change(r, Decoder(placeholder="~~unavailable~~")).after["name"] is UNAVAILABLE  # type: ignore[index]


def test_unchanged_large_column_keeps_the_value_the_state_holds() -> None:
    create = record("document_01_c.json")
    original = as_change(create).after["content"]  # type: ignore[index]
    assert isinstance(original, bytes) and original
    update = record("document_02_u.json")
    update["value"]["payload"]["after"]["content"] = B64_PLACEHOLDER
    update["value"]["payload"]["before"]["content"] = B64_PLACEHOLDER
    p = Processor(SyncSettings(today=date(2026, 11, 22)))
    p.fold([as_change(create)])
    step = p.fold([as_change(update)])
    assert not step.dead_letters
    held = p.state.get("document", (990004,))
    assert held is not None and held.content_sha256 == content_digest(original)  # type: ignore[attr-defined]
    assert held.content_size == len(original)  # type: ignore[attr-defined]
    assert held.released is True  # type: ignore[attr-defined]  # the changed column did change
    assert not step.content_writes  # the content did not change
    for _, row, _ in step.row_writes:
        assert row is not None and UNAVAILABLE not in row.values() and "content" not in row
        assert row["content_sha256"] == content_digest(original)
    for _, row in p.state.iter_rows():
        assert UNAVAILABLE not in row_dict(row).values()
        assert all(DEFAULT_PLACEHOLDER.encode() not in v for v in row_dict(row).values() if isinstance(v, bytes))


def test_update_with_unavailable_columns_for_an_unknown_row_is_a_dead_letter() -> None:
    update = record("person_02_u.json")
    update["value"]["payload"]["after"]["email"] = DEFAULT_PLACEHOLDER
    p = Processor(SyncSettings(today=date(2026, 11, 22)))
    step = p.fold([as_change(update)])
    assert [d.error_code for d in step.dead_letters] == ["UnavailableColumns"]
    letter = step.dead_letters[0]
    assert "email" in letter.reason and DEFAULT_PLACEHOLDER not in letter.reason
    assert letter.offset == update["offset"]
    assert len(p.state) == 0 and not step.row_writes


def test_placeholder_never_reaches_a_command() -> None:
    person = record("person_01_c.json")
    p = Processor(SyncSettings(today=date(2026, 11, 22)))
    p.fold([as_change(person)])
    email = p.state.get("person", (as_change(person).key[0],)).email  # type: ignore[union-attr]
    update = with_lsn(record("person_02_u.json"), 10**12)
    update["value"]["payload"]["after"]["email"] = DEFAULT_PLACEHOLDER
    update["value"]["payload"]["after"]["title"] = DEFAULT_PLACEHOLDER
    step = p.fold([as_change(update)])
    assert not step.dead_letters
    held = p.state.get("person", (as_change(update).key[0],))
    assert held is not None and held.email == email  # type: ignore[attr-defined]
    commands = p.project(step.roots)
    assert DEFAULT_PLACEHOLDER not in json.dumps([c.document for c in commands])
