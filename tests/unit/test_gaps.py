"""Gaps between a group's committed offset and what a topic still holds (streams/gaps.py)."""

from __future__ import annotations

from streams.gaps import Gap, find_gaps


def test_a_committed_offset_below_the_log_start_is_a_gap() -> None:
    gaps = find_gaps({("casavi.commands", 0): 120, ("erp.erp.person", 0): 500},
                     {("casavi.commands", 0): 300, ("erp.erp.person", 0): 0})
    assert gaps == [Gap("casavi.commands", 0, 120, 300)]
    assert gaps[0].lost == 180 and "first kept 300" in str(gaps[0])


def test_no_commit_yet_or_at_the_log_start_is_no_gap() -> None:
    assert find_gaps({("t", 0): None, ("t", 1): 300, ("u", 0): 5}, {("t", 0): 300, ("t", 1): 300}) == []
