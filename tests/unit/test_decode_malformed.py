"""Broken CDC records → MalformedEvent naming topic/partition/offset, never a row value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.cdc.decode import UnknownTable, decode
from streams.cdc.model import MalformedEvent

FIXTURES = Path(__file__).parents[1] / "fixtures" / "debezium"

# Personal values present in the person fixtures: none may appear in an error.
PERSONAL = ["Annegret", "Zwiebelhuber", "annegret.z@example.org", "a.zwiebelhuber@example.net",
            "DE89370400440532013000", "5550123", "Lindenallee", "COBADEFFXXX",
            "Ilse", "Brandt", "ilse.brandt@example.org", "5550999", "Marktstr"]
MSSQL = {"person_update.json": "09_person_update.json", "contract_create.json": "04_contract_read.json"}

TOPIC = "erp.erp.erp.person"


def person_value(conn: str = "sqlserver", name: str = "person_update.json") -> dict[str, Any]:
    path = FIXTURES / "sqlserver_stream" / MSSQL[name] if conn == "sqlserver" else FIXTURES / conn / name
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    value: dict[str, Any] = doc["value"]
    return value


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def assert_malformed(value: bytes | None, *, key: bytes | None = None, topic: str = TOPIC,
                     expected: type[MalformedEvent] = MalformedEvent) -> MalformedEvent:
    with pytest.raises(MalformedEvent) as info:
        decode(topic, 3, 12345, key, value)
    err = info.value
    assert type(err) is expected
    msg = str(err)
    assert topic in msg and "[3]" in msg and "12345" in msg, msg
    assert err.kafka is not None and (err.kafka.topic, err.kafka.partition, err.kafka.offset) == (topic, 3, 12345)
    for secret in PERSONAL:
        assert secret not in msg, (secret, msg)
        assert secret not in repr(err.args)
    assert err.__cause__ is None and err.__suppress_context__  # no chained exception carrying data
    return err


def test_garbage_bytes() -> None:
    assert_malformed(b"\xff\xfe\x00garbage Annegret")
    assert_malformed(b"not json at all, Zwiebelhuber")
    assert_malformed(b"[1, 2, 3]")
    assert_malformed(b'"Annegret"')
    assert_malformed(b"{}")


def test_truncated_json() -> None:
    raw = dumps(person_value())
    assert_malformed(raw[: len(raw) // 2])
    assert_malformed(raw[:-1])


def test_missing_op() -> None:
    v = person_value()
    del v["payload"]["op"]
    err = assert_malformed(dumps(v))
    assert "op" in err.reason


def test_unsupported_op() -> None:
    v = person_value()
    v["payload"]["op"] = "t"
    assert "'t'" in assert_malformed(dumps(v)).reason
    v["payload"]["op"] = "Annegret Zwiebelhuber"
    assert_malformed(dumps(v))


def test_bad_base64_in_decimal_and_bytes() -> None:
    v = person_value("sqlserver", "contract_create.json")
    v["payload"]["after"]["rent_amount"] = "Zwiebelhuber!!"
    err = assert_malformed(dumps(v), topic="erp.erp.erp.contract")
    assert "rent_amount" in err.reason and "base64" in err.reason
    d = json.loads((FIXTURES / "postgres" / "document_create.json").read_text())["value"]
    d["payload"]["after"]["content"] = "Annegret%%%"
    assert_malformed(dumps(d), topic="erp.erp.document")


def test_wrong_types_in_personal_columns() -> None:
    v = person_value()
    v["payload"]["after"]["email"] = {"Annegret": "annegret.z@example.org"}
    err = assert_malformed(dumps(v))
    assert "person.email" in err.reason
    v = person_value()
    v["payload"]["after"]["person_id"] = "Annegret"
    assert_malformed(dumps(v))


def test_unknown_table() -> None:
    v = person_value()
    v["payload"]["source"]["table"] = "salary"
    err = assert_malformed(dumps(v), topic="erp.erp.erp.salary", expected=UnknownTable)
    assert isinstance(err, UnknownTable) and err.table == "salary"
    assert "salary" in str(err)
    # a table of another database schema is not ours either
    v = person_value()
    v["payload"]["source"]["schema"] = "dbo"
    assert_malformed(dumps(v), topic="erp.erp.dbo.person", expected=UnknownTable)
    # tombstone of an unknown table
    assert_malformed(None, topic="erp.erp.erp.salary", expected=UnknownTable)


def test_topic_table_mismatch() -> None:
    err = assert_malformed(dumps(person_value()), topic="erp.erp.erp.contract")
    assert "topic" in err.reason


def test_structural_breakage() -> None:
    v = person_value()
    v["payload"]["source"] = "Annegret"
    assert_malformed(dumps(v))
    v = person_value()
    v["payload"]["after"] = ["Annegret"]
    assert_malformed(dumps(v))
    v = person_value()
    v["payload"]["after"] = None  # update without after
    assert_malformed(dumps(v))
    v = person_value()
    v["schema"]["fields"] = "Annegret"
    assert_malformed(dumps(v))
    v = person_value()
    v["schema"]["fields"][1]["fields"][0] = {"no": "type"}
    assert_malformed(dumps(v))
    v = person_value()
    v["payload"]["source"]["connector"] = "mysql"
    assert_malformed(dumps(v))
    v = person_value()
    v["payload"]["source"]["commit_lsn"] = 42
    assert_malformed(dumps(v))
    v = person_value()
    v["payload"] = "Annegret"
    assert_malformed(dumps(v))


def test_delete_without_any_key() -> None:
    v = person_value("postgres", "person_delete.json")
    v["payload"]["before"] = None
    assert_malformed(dumps(v), topic="erp.erp.person")


def test_broken_record_key() -> None:
    v = person_value("postgres", "person_delete.json")
    v["payload"]["before"] = None
    assert_malformed(dumps(v), key=b"\x00Annegret", topic="erp.erp.person")
    assert_malformed(dumps(v), key=b'{"other": 1}', topic="erp.erp.person")


def test_unexpected_errors_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    import streams.cdc.decode as mod

    def boom(*_: Any) -> Any:
        raise RuntimeError("Annegret Zwiebelhuber annegret.z@example.org")

    monkeypatch.setattr(mod, "_position", boom)
    err = assert_malformed(dumps(person_value()))
    assert "RuntimeError" in err.reason


def test_schema_with_payload_key_inside_falls_back_safely() -> None:
    """A schema containing a "payload" key must not fool the compact-envelope fast path."""
    v = person_value()
    v["schema"]["parameters"] = {"a": "1", "payload": {"op": "Annegret"}}
    raw = dumps(v)
    assert raw.find(b',"payload":') < raw.find(b'"payload":{"before"')
    out = decode(TOPIC, 0, 0, None, raw)
    assert out.table == "person"


def test_envelope_with_extra_keys_still_decodes() -> None:
    v = person_value()
    raw = b'{"schema":' + dumps(v["schema"]) + b',"extra":1,"payload":' + dumps(v["payload"]) + b"}"
    out = decode(TOPIC, 0, 0, None, raw)
    assert out.table == "person"
