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

``EmittedTable`` is an in-memory last-emitted table with the per-root index the diff
needs, and ``plan`` runs project + diff + order for a set of roots — the worker's step
for one change (or one timer tick).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
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
    persisted table; ``load`` rebuilds the index at start.
    """

    def __init__(self, entries: Iterable[EmittedEntry] = ()) -> None:
        self.entries: dict[str, EmittedEntry] = {}
        self.by_root: MultiMap[str] = MultiMap()
        for e in entries:
            self._put(e)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def owned(self, root: Root | str) -> set[str]:
        rk = root if isinstance(root, str) else root.key
        return set(self.by_root.of(rk))

    def _put(self, e: EmittedEntry) -> None:
        key = e.key
        old = self.entries.get(key)
        if old is not None and old.root != e.root:
            self._drop_owner(old.root, key)
        self.entries[key] = e
        self.by_root.add(e.root, key)

    def _drop_owner(self, root_key: str, key: str) -> None:
        self.by_root.discard(root_key, key)

    def record(self, commands: Iterable[CasaviCommand], root: Root | str) -> None:
        """Update the table after ``commands`` of ``root`` were emitted."""
        rk = root if isinstance(root, str) else root.key
        for cmd in commands:
            key = f"{cmd.entity}:{cmd.reference_id}"
            if cmd.op == "UPSERT":
                self._put(EmittedEntry.of(cmd, rk))
            else:
                old = self.entries.pop(key, None)
                if old is not None:
                    self._drop_owner(old.root, key)

    def put(self, entry: EmittedEntry) -> None:
        """Store one entry as it is (e.g. a slot casavi did not apply, kept with a marker hash)."""
        self._put(entry)

    def hashes(self) -> dict[str, str]:
        return {k: e.content_hash for k, e in self.entries.items()}


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
