"""A worker started on a purged stack finds its local store ahead of the (new) changelog and
rebuilds it instead of dying with Faust's ConsistencyError."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from rocksdict import Options, Rdict

from streams.worker.stores import OFFSET_KEY, remove_stores_ahead

pytestmark = pytest.mark.integration


def test_stores_ahead_of_their_changelog_are_removed(stack: dict[str, Any], tmp_path: Path) -> None:
    app_id = f"stores-{uuid.uuid4().hex[:8]}"  # no changelog topics exist for it
    ahead = tmp_path / "erp-rows-0.db"
    db = Rdict(str(ahead), options=Options(raw_mode=True))
    db.put(OFFSET_KEY, b"500")
    db.close()
    removed = remove_stores_ahead(tmp_path, app_id, ["erp-rows", "emitted-test"], stack["kafka_bootstrap_servers"])
    assert removed == ["erp-rows"] and not ahead.exists()
    assert remove_stores_ahead(tmp_path, app_id, ["erp-rows"], stack["kafka_bootstrap_servers"]) == []
