"""The demo housing company: generated ERP data, loaded into PostgreSQL, with live changes."""

from streams.demo.generate import Change, Dataset, apply_changes, generate, live_changes, load

__all__ = ["Change", "Dataset", "apply_changes", "generate", "live_changes", "load"]
