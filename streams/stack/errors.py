"""The one error type of the stack: its message is shown to the user as it is."""

from __future__ import annotations


class StackError(RuntimeError):
    """Something the user has to act on (missing Java, a foreign process on a port, a dead service...)."""
