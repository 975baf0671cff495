"""Waiting for a real condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from streams.stack.errors import StackError

T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout_s: float,
    *,
    interval_s: float = 0.25,
    still_alive: Callable[[], str | None] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than None; raise after ``timeout_s``.

    ``still_alive`` returns an error message once waiting is pointless (the process died).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result is not None:
            return result
        if still_alive is not None:
            problem = still_alive()
            if problem is not None:
                raise StackError(problem)
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)
