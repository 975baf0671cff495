"""Pauses of Python's cyclic collector while the worker's state grows to a large company.

The worker's fold and projection (``streams.worker.processor``, no Kafka) take the demo
housing company (``streams.demo.generate``) in batches of 5,000 row changes, as a bulk load
reaches the worker, once with Python's own collections and once with the worker's ``Heap``
(``streams.worker.heap``). Each mode runs in a process of its own. Printed and written to
``bench/results/<name>.json``: every full collection's duration, the longest, their sum, and
the seconds of the whole fold and projection. Then, on the loaded state, one full collection
as Python would run it.

    .venv/bin/python bench/gc_pauses.py --scale 30 --name gc-pauses-scale30
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine_info, peak_rss_mib  # noqa: E402

BATCH = 5000
TODAY = date(2026, 12, 6)


def run_mode(scale: float, heap_on: bool) -> dict[str, Any]:
    """One mode in this process: fold and project the company, timing each full collection."""
    from streams.demo.generate import generate, rows_of
    from streams.projection.sample import change
    from streams.settings import SyncSettings
    from streams.worker.heap import Heap
    from streams.worker.processor import Processor

    dataset = generate(1, scale, TODAY)
    # rows held in memory (no state table to read them from): the most the collector can walk
    processor = Processor(SyncSettings(today=TODAY), stored_emitted=lambda slot: None)
    heap = Heap(21600.0 if heap_on else 0.0)
    heap.install()
    pauses_ms: list[float] = []
    started_at = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started_at[0] = time.perf_counter()
        else:
            pauses_ms.append(round((time.perf_counter() - started_at[0]) * 1000, 1))

    gc.collect()
    gc.callbacks.append(timed)
    started = time.perf_counter()
    batch = []
    for table, row in rows_of(dataset):
        batch.append(change(table, row, "r"))
        if len(batch) == BATCH:
            _fold(processor, batch)
            batch = []
            heap.after_batch()
    _fold(processor, batch)
    heap.after_batch()
    seconds = time.perf_counter() - started
    gc.callbacks.remove(timed)
    gc.unfreeze()
    tracked = len(gc.get_objects())
    full_started = time.perf_counter()
    collected = gc.collect()
    return {
        "heap": heap_on,
        "rows": processor.row_count,
        "emitted": processor.emitted_count,
        "fold_and_project_s": round(seconds, 1),
        "full_collections": len(pauses_ms),
        "longest_full_collection_ms": max(pauses_ms, default=None),
        "full_collections_total_s": round(sum(pauses_ms) / 1000, 1),
        "full_collections_ms": pauses_ms,
        "tracked_objects_loaded": tracked,
        "one_full_collection_on_the_loaded_state_ms": round((time.perf_counter() - full_started) * 1000, 1),
        "cyclic_garbage_found_then": collected,
        "peak_rss_mib": peak_rss_mib(os.getpid()),
    }


def _fold(processor: Any, batch: list[Any]) -> None:
    step = processor.fold(batch)
    processor.emitted_writes(processor.project(step.roots))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument("--name", default=time.strftime("gc-pauses-%Y%m%d-%H%M%S"))
    parser.add_argument("--mode", choices=("python", "heap"), help=argparse.SUPPRESS)  # one mode, in a child
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.scale, args.mode == "heap")))
        return
    results = {}
    for mode in ("python", "heap"):
        out = subprocess.run([sys.executable, __file__, "--scale", str(args.scale), "--mode", mode],
                             check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        r = results[mode]
        print(f"{mode:>6}: {r['rows']:,} rows, fold and projection {r['fold_and_project_s']} s; "
              f"{r['full_collections']} full collections, longest {r['longest_full_collection_ms']} ms, "
              f"together {r['full_collections_total_s']} s; one full collection on the loaded state "
              f"{r['one_full_collection_on_the_loaded_state_ms']} ms ({r['tracked_objects_loaded']:,} tracked "
              f"objects, {r['cyclic_garbage_found_then']} of them garbage); peak RSS {r['peak_rss_mib']} MiB")
    path = ROOT / "bench" / "results" / f"{args.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": {"scale": args.scale, "batch": BATCH}, "machine": machine_info({}),
                                "results": results}, indent=1) + "\n")
    print(f"results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
