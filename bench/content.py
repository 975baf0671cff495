"""How document content travels (R16): measured, not asserted.

    python bench/content.py [--documents 1000] [--size-kib 100] [--name NAME]

No Kafka: the worker's own code is driven directly. For ``--documents`` released documents of
``--size-kib`` content each it measures

* the worker's memory for its state: Python heap (tracemalloc) of ``Processor.fold`` over the
  documents, as the bridge does it (a digest in the row, the content to the content topic) and,
  for comparison, the rows with their content kept (what the state held before);
* the persisted state-table entry of one document (``erp-rows``: RocksDB and its changelog);
* the command of one document on ``casavi.commands``: with the content reference the bridge
  sends, and with the content inline (base64) as it would be without one;
* what each path writes to Kafka per document change.

Prints a table and writes ``bench/results/content-<name>.json``.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import sys
import time
import tracemalloc
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.commands.model import CasaviCommand, encode  # noqa: E402
from streams.erp.rows import DocumentRow, parse_row  # noqa: E402
from streams.projection.sample import change, minimal_dataset  # noqa: E402
from streams.settings import SyncSettings  # noqa: E402
from streams.worker.processor import Processor  # noqa: E402
from streams.worker.rowcodec import dumps_entry  # noqa: E402

TODAY = date(2025, 6, 15)


def documents(n: int, size: int) -> list[dict[str, Any]]:
    return [dict(document_id=i, property_id=10, unit_id=None, contract_id=None, person_id=None,
                 document_type_code="NK", name=f"Abrechnung {i}.pdf", mime_type="application/pdf",
                 created_at=datetime(2025, 3, 1, tzinfo=timezone.utc), released=True,
                 content=(b"%PDF-1.4 " + i.to_bytes(4, "big")) * (size // 13 + 1))
            for i in range(1, n + 1)]


def heap_of(build: Any) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=1000)
    ap.add_argument("--size-kib", type=int, default=100)
    ap.add_argument("--name", default=time.strftime("%Y%m%d-%H%M"))
    args = ap.parse_args(argv)
    size = args.size_kib * 1024
    base = [change(t, r, "r") for t, r in minimal_dataset().all()]
    rows = documents(args.documents, size)
    content_total = sum(len(r["content"]) for r in rows)

    def fold() -> Processor:
        p = Processor(SyncSettings(today=TODAY))
        p.fold(base)
        for r in rows:  # one change at a time: the content written to the topic is dropped after it
            p.fold([change("document", r)])
        return p

    bridge_heap, processor = heap_of(fold)

    def held() -> list[tuple[DocumentRow, bytes]]:  # what a state keeping the content would hold (a copy each,
        # as a decoded CDC event brings it)
        return [(parse_row("document", {k: v for k, v in r.items() if k != "content"}), bytes(bytearray(r["content"])))
                for r in rows]

    held_heap, _ = heap_of(held)
    sample = rows[0]
    stored_entry = dumps_entry(processor._stored(change("document", sample)), ("1", "", 0))
    with_content_entry = dumps_entry(sample, ("1", "", 0))
    commands = processor.project(processor.known_roots())
    doc_cmd = next(c for c in commands if c.entity == "document")
    ref_bytes = len(encode(doc_cmd))
    inline = {k: v for k, v in (doc_cmd.document or {}).items() if k != "contentRef"}
    inline["content"] = base64.b64encode(sample["content"]).decode()
    inline_bytes = len(encode(CasaviCommand.upsert("document", doc_cmd.reference_id, inline)))
    results = {
        "documents": args.documents, "content_bytes_each": size, "content_bytes_total": content_total,
        "worker_state_heap_bytes": {"bridge_digest": bridge_heap, "content_held": held_heap},
        "state_table_entry_bytes": {"bridge_digest": len(stored_entry), "content_held": len(with_content_entry)},
        "command_bytes": {"content_reference": ref_bytes, "content_inline": inline_bytes},
        "kafka_bytes_per_document_change": {
            "bridge": len(sample["content"]) + ref_bytes + len(stored_entry),  # content topic + command + changelog
            "content_inline_and_held": inline_bytes + len(with_content_entry),
        },
    }
    mib = 1024 * 1024
    print(f"{args.documents} documents of {args.size_kib} KiB ({content_total / mib:.1f} MiB of content)")
    print(f"  worker state heap       digest {bridge_heap / mib:8.2f} MiB   content kept {held_heap / mib:8.2f} MiB")
    print(f"  state-table entry       digest {len(stored_entry):8d} B     content kept {len(with_content_entry):8d} B")
    print(f"  command                 reference {ref_bytes:5d} B     content inline {inline_bytes:8d} B")
    out = ROOT / "bench" / "results" / f"content-{args.name}.json"
    out.write_text(json.dumps({"config": vars(args), "results": results}, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
