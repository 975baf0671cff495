"""Shared pieces of the rule tests: a fixed day, state from a data set, projected keys."""

from __future__ import annotations

from datetime import date

from streams.projection import ErpState, project_all
from streams.projection.sample import Dataset
from streams.settings import SyncSettings

TODAY = date(2025, 6, 15)


def state_of(ds: Dataset) -> ErpState:
    st = ErpState()
    for c in ds.changes():
        st.apply(c)
    return st


def keys(st: ErpState, cfg: SyncSettings | None = None, today: date = TODAY) -> set[str]:
    return set(project_all(st, cfg or SyncSettings(), today))
