"""The indexes' multi-map: a key's only value is held as itself, more values as a set."""

from __future__ import annotations

from streams.projection.multimap import MultiMap


def test_a_key_holds_its_only_value_itself_and_a_set_from_the_second_on() -> None:
    m: MultiMap[int] = MultiMap()
    m.add("a", 1)
    m.add("a", 1)  # the same value again: still one
    assert m["a"] == 1 and list(m.of("a")) == [1]
    m.add("a", 2)
    assert m["a"] == {1, 2} and set(m.of("a")) == {1, 2} and m.shared() == ["a"]
    m.discard("a", 1)
    assert m["a"] == 2 and m.shared() == []  # back to the value itself
    m.discard("a", 3)  # not there: nothing changes
    assert m["a"] == 2
    m.discard("a", 2)
    assert "a" not in m and list(m.of("a")) == []


def test_none_keys_are_never_indexed() -> None:
    m: MultiMap[str] = MultiMap()
    m.add(None, "x")
    m.discard(None, "x")
    assert not m and list(m.of(None)) == []
