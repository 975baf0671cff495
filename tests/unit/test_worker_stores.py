"""A local store ahead of its changelog is recognised by the offset Faust keeps in it."""

from __future__ import annotations

from pathlib import Path

from rocksdict import Options, Rdict

from streams.worker.stores import OFFSET_KEY, persisted_offset, store_is_ahead


def test_store_ahead_of_its_changelog() -> None:
    assert store_is_ahead(120, None)  # the changelog is gone (purged stack)
    assert store_is_ahead(120, 100) and store_is_ahead(100, 100)
    assert not store_is_ahead(99, 100)
    assert not store_is_ahead(None, 100) and not store_is_ahead(0, 0)


def test_persisted_offset_is_read_from_the_store(tmp_path: Path) -> None:
    store = tmp_path / "erp-rows-0.db"
    assert persisted_offset(store) is None
    db = Rdict(str(store), options=Options(raw_mode=True))  # as Faust's RocksDB store opens it
    db.put(OFFSET_KEY, b"4711")
    db.close()
    assert persisted_offset(store) == 4711
