"""The worker's JSON: what orjson parses and writes, and what it leaves to the standard library."""

from __future__ import annotations

import json

import pytest

from streams import fastjson


def test_values_round_trip_and_text_stays_readable() -> None:
    value = {"city": "Köln", "id": 9_223_372_036_854_775_807, "rent": 512.3, "tags": [1, None, True]}
    data = fastjson.dumps(value)
    assert "Köln".encode() in data  # readable in Kafka UI, not \\u-escaped
    assert fastjson.loads(data) == value == json.loads(data)


def test_what_orjson_refuses_the_standard_library_decides() -> None:
    assert fastjson.loads(b'{"x": NaN}')["x"] != fastjson.loads(b'{"x": NaN}')["x"]  # NaN, as json reads it
    assert fastjson.loads(fastjson.dumps(2 ** 70)) == 2 ** 70
    assert fastjson.loads(fastjson.dumps({1: "a"})) == {"1": "a"}


def test_text_that_is_not_json_raises_the_standard_errors() -> None:
    with pytest.raises(json.JSONDecodeError):
        fastjson.loads(b'{"a": 1')
    with pytest.raises(UnicodeDecodeError):
        fastjson.loads(b'{"a": "\xff"}')
