"""The casavi simulator's storage: one SQLite file (or ``:memory:``).

Entities are kept as JSON documents per ``(entity, id)`` with a link to their parent
(a unit's property, a contract's unit) and the references they hold (a contract's
contacts), so that a restart with the same file keeps everything the simulator
accepted: entities, import jobs (with the payload of jobs not yet processed) and the
issued access tokens (kept as digests, never in clear).

The store knows nothing about import rules; ``importer`` decides what to write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

from streams.casavi.models import EntityType

# what the store keeps: casavi's entities, the files uploaded and the REST hook subscriptions
StoreEntity = EntityType | Literal["file", "hook"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    entity TEXT NOT NULL,
    id     TEXT NOT NULL,
    parent TEXT,
    doc    TEXT NOT NULL,
    PRIMARY KEY (entity, id)
);
CREATE INDEX IF NOT EXISTS entities_by_parent ON entities (entity, parent);
CREATE TABLE IF NOT EXISTS refs (
    entity        TEXT NOT NULL,
    id            TEXT NOT NULL,
    target_entity TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    PRIMARY KEY (entity, id, target_entity, target_id)
);
CREATE INDEX IF NOT EXISTS refs_by_target ON refs (target_entity, target_id);
CREATE TABLE IF NOT EXISTS jobs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL UNIQUE,
    doc     TEXT NOT NULL,
    payload TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    digest     TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Stored:
    entity: StoreEntity
    id: str
    parent: str | None
    doc: dict[str, Any]


class Store:
    """Thread-safe access to the simulator's SQLite file."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; nested use joins the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def _rows(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # --- entities -------------------------------------------------------------------

    def get(self, entity: StoreEntity, entity_id: str) -> Stored | None:
        rows = self._rows("SELECT parent, doc FROM entities WHERE entity = ? AND id = ?", (entity, entity_id))
        if not rows:
            return None
        parent, doc = rows[0]
        return Stored(entity, entity_id, parent, json.loads(doc))

    def exists(self, entity: StoreEntity, entity_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM entities WHERE entity = ? AND id = ?", (entity, entity_id)))

    def put(
        self,
        entity: StoreEntity,
        entity_id: str,
        parent: str | None,
        doc: dict[str, Any],
        refs: Iterable[tuple[StoreEntity, str]] = (),
    ) -> None:
        """Insert or replace an entity and the references it holds."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO entities (entity, id, parent, doc) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (entity, id) DO UPDATE SET parent = excluded.parent, doc = excluded.doc",
                (entity, entity_id, parent, json.dumps(doc, sort_keys=True)),
            )
            self._db.execute("DELETE FROM refs WHERE entity = ? AND id = ?", (entity, entity_id))
            self._db.executemany(
                "INSERT OR IGNORE INTO refs (entity, id, target_entity, target_id) VALUES (?, ?, ?, ?)",
                [(entity, entity_id, target, target_id) for target, target_id in refs],
            )

    def delete(self, entity: StoreEntity, entity_id: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM entities WHERE entity = ? AND id = ?", (entity, entity_id))
            self._db.execute("DELETE FROM refs WHERE entity = ? AND id = ?", (entity, entity_id))

    def children(self, entity: StoreEntity, parent: str) -> list[Stored]:
        rows = self._rows(
            "SELECT id, doc FROM entities WHERE entity = ? AND parent = ? ORDER BY id", (entity, parent)
        )
        return [Stored(entity, row_id, parent, json.loads(doc)) for row_id, doc in rows]

    def max_number(self, entity: StoreEntity, *fields: str) -> int:
        """The largest number any entity of a kind holds in the first of ``fields`` it has
        (0 or missing: the next field), 0 when none: computed by SQLite, without reading every
        document into Python."""
        value = "0"
        for name in reversed(fields):
            value = f"COALESCE(NULLIF(CAST(json_extract(doc, '$.{name}') AS INTEGER), 0), {value})"
        rows = self._rows(f"SELECT MAX({value}) FROM entities WHERE entity = ?", (entity,))
        return int(rows[0][0] or 0)

    def all(self, entity: StoreEntity) -> list[Stored]:
        rows = self._rows("SELECT id, parent, doc FROM entities WHERE entity = ? ORDER BY id", (entity,))
        return [Stored(entity, row_id, parent, json.loads(doc)) for row_id, parent, doc in rows]

    def referrers(self, target_entity: StoreEntity, target_id: str) -> list[tuple[StoreEntity, str]]:
        """Entities that hold a reference to the target (e.g. contracts naming a contact)."""
        rows = self._rows(
            "SELECT entity, id FROM refs WHERE target_entity = ? AND target_id = ? ORDER BY entity, id",
            (target_entity, target_id),
        )
        return [(cast(StoreEntity, entity), row_id) for entity, row_id in rows]

    def counts(self) -> dict[str, int]:
        return {entity: n for entity, n in self._rows("SELECT entity, COUNT(*) FROM entities GROUP BY entity")}

    # --- import jobs ----------------------------------------------------------------

    def add_job(self, job_id: str, doc: dict[str, Any], payload: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO jobs (id, doc, payload) VALUES (?, ?, ?)", (job_id, json.dumps(doc), json.dumps(payload))
            )

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT doc FROM jobs WHERE id = ?", (job_id,))
        return cast(dict[str, Any], json.loads(rows[0][0])) if rows else None

    def job_payload(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT payload FROM jobs WHERE id = ?", (job_id,))
        return cast(dict[str, Any], json.loads(rows[0][0])) if rows and rows[0][0] is not None else None

    def finish_job(self, job_id: str, doc: dict[str, Any]) -> None:
        """Store the finished job and drop its payload (it is applied now)."""
        with self.transaction():
            self._db.execute("UPDATE jobs SET doc = ?, payload = NULL WHERE id = ?", (json.dumps(doc), job_id))

    def pending_jobs(self) -> list[str]:
        """Jobs accepted but not applied yet, oldest first."""
        return [row[0] for row in self._rows("SELECT id FROM jobs WHERE payload IS NOT NULL ORDER BY seq")]

    # --- access tokens --------------------------------------------------------------

    def add_token(self, digest: str, expires_at: float) -> None:
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO tokens (digest, expires_at) VALUES (?, ?)", (digest, expires_at))

    def token_expiry(self, digest: str) -> float | None:
        rows = self._rows("SELECT expires_at FROM tokens WHERE digest = ?", (digest,))
        return float(rows[0][0]) if rows else None

    def expire_tokens(self, now: float) -> None:
        with self.transaction():
            self._db.execute("UPDATE tokens SET expires_at = ? WHERE expires_at > ?", (now, now))

    # --- admin ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all entities and jobs (issued tokens stay valid)."""
        with self.transaction():
            self._db.execute("DELETE FROM entities")
            self._db.execute("DELETE FROM refs")
            self._db.execute("DELETE FROM jobs")
