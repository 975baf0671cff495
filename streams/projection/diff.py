"""Diff: desired documents of a root vs what was last emitted -> commands (R13, R20).

``diff`` compares one root's fresh output with the last-emitted table: an upsert for
every slot that is new, whose content hash (or parents) changed, or that another root
owned (a re-keyed row: the same ERP numbers under new ids), a delete for every slot this
root emitted before and no longer wants. ``plan`` drops a root's delete of a slot that
another root of the same plan upserts, so a slot that changes hands is never deleted. Unchanged slots produce nothing, so
a replay is quiet.

``order_commands`` puts commands in the order casavi accepts (R20): upserts parents
first (contacts and staff, then each property followed by its units and their contracts,
then documents and tickets), then deletes by level descending (contracts, then units,
then properties and contacts). A contract that stops naming a contact is thus updated
before that contact is deleted, and a contact exists before a contract names it.

``EmittedTable`` is the last-emitted table with the per-root index the diff needs (in
memory, or over the worker's persisted table), and ``plan`` runs project + diff + order
for a set of roots — the worker's step for one change (or one timer tick).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from datetime import date

from streams.casavi.import_contract import LEVEL
from streams.commands.model import CasaviCommand
from streams.projection.model import Desired, EmittedEntry
from streams.projection.multimap import MultiMap
from streams.projection.project import Config, project_with, with_dependants, with_email_peers
from streams.projection.roots import Root, root_sort_key
from streams.projection.rules import GONE, Rejection, Rules
from streams.projection.state import ErpState

UPSERT_NEW = "upsert new"
UPSERT_CHANGED = "upsert changed"


def diff(
    root_outputs: Mapping[str, Desired],
    previously_emitted: Mapping[str, EmittedEntry],
    owned_by_root: Iterable[str],
    *,
    reasons: Mapping[str, str] | None = None,
    root: str | None = None,
    force: bool = False,
) -> list[CasaviCommand]:
    """Commands that turn what this root emitted last into ``root_outputs``.

    ``owned_by_root``: slot keys this root emitted before (and still owns).
    ``root``: the key of the root the commands belong to (carried on each command).
    ``force``: upsert every desired slot, even one casavi already has (a full re-sync).
    ``reasons``: optional ``{slot key: reason}`` (``project_root(..., excluded=…)``) for
    the delete commands; a slot without a reason is deleted with ``"R13 no longer in
    projection"`` (row deleted or renumbered).
    """
    cmds: list[CasaviCommand] = []
    for key in sorted(root_outputs):
        d = root_outputs[key]
        prev = previously_emitted.get(key)
        if (not force and prev is not None and prev.content_hash == d.content_hash
                and prev.parent_ids == d.parent_ids and (root is None or prev.root == root)):
            continue  # casavi has it, from this root; a slot that moved to this root is sent (and so owned) anew
        cmds.append(
            CasaviCommand(
                op="UPSERT", entity=d.entity, reference_id=d.reference_id, parent_ids=d.parent_ids,
                document=d.document, content_hash=d.content_hash,
                reason=UPSERT_NEW if prev is None else UPSERT_CHANGED, root=root,
            )
        )
    for key in sorted(set(owned_by_root)):
        if key in root_outputs:
            continue
        prev = previously_emitted.get(key)
        if prev is None:
            continue
        reason = (reasons or {}).get(key, GONE)
        cmds.append(CasaviCommand.delete(prev.entity, prev.reference_id, prev.parent_ids, reason=reason, root=root))
    return cmds


# Entities of a property's tree, placed together after the contacts and staff they name.
_PROPERTY_TREE: frozenset[str] = frozenset({"property", "unit", "contract", "responsibility"})


def _order_key(cmd: CasaviCommand) -> tuple[int, int, str, int]:
    level = LEVEL[cmd.entity]
    if cmd.op == "DELETE":
        return (3, -level, "", 0)
    if cmd.entity in _PROPERTY_TREE:
        property_id = cmd.reference_id if cmd.entity == "property" else cmd.parent_ids[0] if cmd.parent_ids else ""
        return (1, 0, property_id, level)
    return (0, level, "", 0) if level == 0 else (2, level, "", 0)


def order_commands(cmds: Iterable[CasaviCommand]) -> list[CasaviCommand]:
    """Upserts, then deletes by level descending; stable. The upserts: contacts and staff
    first, then each property with its units, contracts and responsibilities (parents
    before children), then documents, tickets and what hangs on them, by level. The sink
    cuts the commands into imports of a bounded size: a property's tree kept together lands
    in one import, instead of its units in one and their contracts, wrapped in the units as
    containers again, in a later one (a bulk load)."""
    return sorted(cmds, key=_order_key)


class EmittedTable:
    """The last-emitted table: ``{slot key: EmittedEntry}`` plus the root -> slots index.

    A slot belongs to the root that emitted it last. The worker mirrors it into its
    persisted table. Without ``stored`` every entry is held in memory; with it (the worker
    reads its persisted table by slot) only the root -> slots index and the entries recorded
    since ``new_batch`` are: the batch's writes reach the persisted table when it is carried
    out, and at a million rows the entries would take about 0.9 KB each.
    """

    def __init__(self, entries: Iterable[EmittedEntry] = (),
                 stored: Callable[[str], EmittedEntry | None] | None = None) -> None:
        self.by_root: MultiMap[str] = MultiMap()
        self._stored = stored
        self._held: dict[str, EmittedEntry | None] = {}  # None: deleted since new_batch (stored only)
        self._count = 0
        for e in entries:
            self.load(e)

    def load(self, entry: EmittedEntry) -> None:
        """One entry of the persisted table, at start (each slot once)."""
        if self._stored is None:
            self._put(entry)
        else:  # the entry stays in the persisted table
            self._count += 1
            self.by_root.add(entry.root, entry.key)

    def image_parts(self) -> tuple[MultiMap[str], int]:
        """What ``load`` builds (``stored`` only: the entries stay in the persisted table)."""
        return self.by_root, self._count

    def load_image(self, parts: tuple[MultiMap[str], int]) -> None:
        """Instead of ``load`` for every entry: the parts of a state image."""
        self.by_root, self._count = parts
        self._held.clear()

    def reload(self, entries: Mapping[str, EmittedEntry | None]) -> None:
        """Entries of the persisted table written after the image was taken (None: deleted):
        the root -> slots index and the count follow them (one look at every root)."""
        roots: dict[str, str] = {}  # slot -> the root the image names for it
        for root, slots in self.by_root.items():
            for slot in slots if isinstance(slots, set) else (slots,):
                if slot in entries:
                    roots[slot] = root
        for slot, entry in entries.items():
            old = roots.get(slot)
            if old is not None:
                self.by_root.discard(old, slot)
                self._count -= 1
            if entry is not None:
                self.by_root.add(entry.root, slot)
                self._count += 1
        self._held.clear()

    def new_batch(self) -> None:
        """What earlier batches recorded is in the persisted table now (``stored`` only)."""
        if self._stored is not None:
            self._held.clear()

    def get(self, key: str) -> EmittedEntry | None:
        if key in self._held:
            return self._held[key]
        if self._stored is None:
            return None
        found = self._held[key] = self._stored(key)  # read once per batch
        return found

    @property
    def entries(self) -> Mapping[str, EmittedEntry]:
        return _Entries(self)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        for slots in list(self.by_root.values()):
            yield from (slots if isinstance(slots, set) else (slots,))

    def owned(self, root: Root | str) -> set[str]:
        rk = root if isinstance(root, str) else root.key
        return set(self.by_root.of(rk))

    def _put(self, e: EmittedEntry) -> None:
        key = e.key
        old = self.get(key)
        if old is None:
            self._count += 1
        elif old.root != e.root:
            self.by_root.discard(old.root, key)
        self._held[key] = e
        self.by_root.add(e.root, key)

    def _drop(self, key: str) -> None:
        old = self.get(key)
        if old is None:
            return
        self.by_root.discard(old.root, key)
        self._count -= 1
        if self._stored is None:
            del self._held[key]
        else:
            self._held[key] = None

    def record(self, commands: Iterable[CasaviCommand], root: Root | str) -> None:
        """Update the table after ``commands`` of ``root`` were emitted."""
        rk = root if isinstance(root, str) else root.key
        for cmd in commands:
            if cmd.op == "UPSERT":
                self._put(EmittedEntry.of(cmd, rk))
            else:
                self._drop(f"{cmd.entity}:{cmd.reference_id}")

    def put(self, entry: EmittedEntry) -> None:
        """Store one entry as it is (e.g. a slot casavi did not apply, kept with a marker hash)."""
        self._put(entry)

    def hashes(self) -> dict[str, str]:
        return {k: e.content_hash for k, e in self.entries.items()}


class _Entries(Mapping[str, EmittedEntry]):
    """The entries of an ``EmittedTable`` as a read-only mapping (what ``diff`` reads)."""

    def __init__(self, table: EmittedTable) -> None:
        self._table = table

    def get(self, key: str, default: EmittedEntry | None = None) -> EmittedEntry | None:  # type: ignore[override]
        found = self._table.get(key)
        return default if found is None else found

    def __getitem__(self, key: str) -> EmittedEntry:
        found = self._table.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


def plan(
    state: ErpState,
    roots: Iterable[Root],
    config: Config,
    today: date,
    emitted: EmittedTable,
    *,
    record: bool = True,
    force: bool = False,
    errors: list[tuple[Root, BaseException]] | None = None,
    rejected: list[Rejection] | None = None,
    later: Container[Root] = frozenset(),
) -> list[CasaviCommand]:
    """Project every root (and the persons sharing an e-mail address with a person among
    them, R08, and the roots that read whether their entities are synced: documents, R16),
    diff it against ``emitted`` and return the commands in emit order. With
    ``record`` the table is updated as if the commands were emitted; with ``force`` every
    desired slot is sent, whatever was emitted before. With ``errors``, a root whose
    projection raises is left out (nothing recorded) and reported there. With ``rejected``,
    it receives what the projection wants but casavi cannot take (``Rejection``).
    ``later``: roots that will be projected in a later plan anyway (the worker's deferred
    roots, projected chunk by chunk in root order): a dependant among them is left to its own
    turn, after what it refers to, instead of going out ahead of it (R20)."""
    per_root: list[tuple[Root, list[CasaviCommand]]] = []
    rules = Rules(state, config, today)
    asked = with_email_peers(state, roots)
    expanded = {r for r in with_dependants(state, asked) if r in asked or r not in later}
    for root in sorted(expanded, key=root_sort_key):
        excluded: dict[str, str] = {}
        try:
            out = project_with(rules, root, excluded)
            cmds = diff(out, emitted.entries, emitted.owned(root), reasons=excluded, root=root.key, force=force)
        except Exception as exc:  # noqa: BLE001 - one root, not the plan
            if errors is None:
                raise
            errors.append((root, exc))
            continue
        if cmds:
            per_root.append((root, cmds))
    # a slot one root upserts must not be deleted by another root in the same plan
    upserted = {(c.entity, c.reference_id) for _, cmds in per_root for c in cmds if c.op == "UPSERT"}
    per_root = [
        (root, [c for c in cmds if c.op == "UPSERT" or (c.entity, c.reference_id) not in upserted])
        for root, cmds in per_root
    ]
    if record:
        for root, cmds in per_root:
            emitted.record(cmds, root)
    if rejected is not None:
        rejected.extend(rules.rejections)
    return order_commands(c for _, cmds in per_root for c in cmds)
