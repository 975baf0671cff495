"""Unchanged TOASTed columns on the real stack: PostgreSQL does not send them, Debezium puts its
placeholder there, and the bridge keeps the value it holds: the state keeps the content's
sha256 and size (R16), the content topic keeps the content, and the rename writes neither anew.

``erp.document`` has REPLICA IDENTITY DEFAULT (connect/postgres/erp_schema.sql). A document
with 200 KB of incompressible content is stored out of line (TOAST); an update of its name
leaves the content unchanged, so the update event carries the placeholder instead of it.
"""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Any

import pytest

from streams.cdc.decode import Decoder
from streams.cdc.model import UNAVAILABLE, RowChange
from streams.erp.rows import content_digest
from streams.settings import SyncSettings
from streams.worker.processor import Processor

pytestmark = pytest.mark.integration



async def test_unchanged_toasted_content_keeps_its_value(stack: dict[str, Any], pg_conn: Any,
                                                         topic_reader: Any) -> None:
    doc_id = 880_000 + int.from_bytes(os.urandom(2), "big")  # of this run only: the topic keeps earlier runs
    renamed = f"Hausordnung {doc_id}.pdf"
    content = os.urandom(200_000)
    with pg_conn.transaction():
        pg_conn.execute("DELETE FROM erp.document WHERE document_id = %s", (doc_id,))
        pg_conn.execute(
            "INSERT INTO erp.document (document_id, property_id, document_type_code, name, mime_type, created_at,"
            " released, content) VALUES (%s, 1, 'HO', 'Hausordnung.pdf', 'application/pdf', now(), true, %s)",
            (doc_id, content))
    pg_conn.execute("UPDATE erp.document SET name = %s WHERE document_id = %s", (renamed, doc_id))

    decoder = Decoder()
    changes: list[RowChange] = []

    def ours(record: Any) -> bool:
        if record.value is None:
            return False
        out = decoder.decode(record.topic, record.partition, record.offset, record.key, record.value)
        if isinstance(out, RowChange) and out.key == (doc_id,) and out.op in ("c", "u"):
            changes.append(out)
        return any(c.op == "u" and c.after and c.after["name"] == renamed for c in changes)

    async with topic_reader(stack["cdc_topics"]["document"]) as reader:
        await reader.wait_for(ours, 60, "the document's insert and update")
    create = [c for c in changes if c.op == "c"][-1]
    update = next(c for c in changes if c.op == "u" and c.after and c.after["name"] == renamed)
    assert update.after is not None and update.after["content"] is UNAVAILABLE  # Debezium did not send it
    assert update.before is None  # REPLICA IDENTITY DEFAULT: no before row

    processor = Processor(SyncSettings(today=date.today()))
    created = processor.fold([create])
    assert created.content_writes == [(f"document:{doc_id}", content)]  # the content goes to the content topic
    step = processor.fold([update])
    assert not step.dead_letters
    assert step.content_writes == []  # unchanged content: the content topic keeps what it has
    held = processor.state.get("document", (doc_id,))
    assert held is not None and held.name == renamed
    assert (held.content_sha256, held.content_size) == (content_digest(content), len(content))  # type: ignore[attr-defined]
    written = [row for _, row, _ in step.row_writes if row]
    assert [(r["content_sha256"], r["content_size"]) for r in written] == [(content_digest(content), len(content))]
    assert all("content" not in r for r in written)  # the state table never holds the bytes
