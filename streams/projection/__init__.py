"""The pure core: fold ERP row changes into state, project state into desired casavi
documents, diff against what was emitted last. No Kafka, no clock, no I/O."""

from streams.projection.diff import EmittedTable, diff, order_commands, plan
from streams.projection.model import Desired, EmittedEntry, slot_key
from streams.projection.project import all_roots, effective_today, project_all, project_root, project_roots, roots_due
from streams.projection.roots import PersonRoot, PropertyRoot, Root, UnitRoot, parse_root_key
from streams.projection.state import ErpState

__all__ = [
    "Desired",
    "EmittedEntry",
    "EmittedTable",
    "ErpState",
    "PersonRoot",
    "PropertyRoot",
    "Root",
    "UnitRoot",
    "all_roots",
    "diff",
    "effective_today",
    "order_commands",
    "parse_root_key",
    "plan",
    "project_all",
    "project_root",
    "project_roots",
    "roots_due",
    "slot_key",
]
