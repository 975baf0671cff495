"""The test folders are not packages: pytest imports test modules by file name, so two test
files with the same name in different folders break collection of the whole suite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_modules_have_unique_names() -> None:
    names = Counter(p.name for p in (Path(__file__).parents[1]).rglob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []
