"""Decoding Debezium change events: the PostgreSQL connector's documented format (fixtures
under ``postgres/``, see ``build_fixtures.py``) and SQL Server events as Debezium 3.6.1 sends
them (``sqlserver_stream/``, see ``build_sqlserver.py``; more in ``test_sqlserver_stream.py``)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.cdc.decode import decode
from streams.cdc.model import RowChange, Tombstone
from streams.cdc.topics import cdc_topic, cdc_topic_pattern, cdc_topics, parse_cdc_topic, table_of_topic
from streams.erp.schema import TABLES

FIXTURES = Path(__file__).parents[1] / "fixtures" / "debezium"
UTC = timezone.utc


def record(path: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / path).read_text(encoding="utf-8"))
    return doc


def encode(doc: Any, compact: bool = True) -> bytes | None:
    if doc is None:
        return None
    if compact:  # as Kafka Connect's JsonConverter writes it
        return json.dumps(doc, separators=(",", ":")).encode()
    return json.dumps(doc, indent=2).encode()


def run(path: str, *, compact: bool = True, **override: Any) -> RowChange | Tombstone:
    r = record(path)
    r.update(override)
    return decode(r["topic"], r["partition"], r["offset"], encode(r["key"]), encode(r["value"], compact))


def change(path: str, **kw: Any) -> RowChange:
    out = run(path, **kw)
    assert isinstance(out, RowChange)
    return out


CONNECTORS = ["postgres"]
MSSQL = "sqlserver_stream"


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("conn", CONNECTORS)
def test_person_create(conn: str, compact: bool) -> None:
    rc = change(f"{conn}/person_create.json", compact=compact)
    assert rc.table == "person" and rc.op == "c" and rc.before is None
    assert rc.key == (4711,)
    assert rc.row is not None and rc.row["email"] == "annegret.z@example.org"
    assert rc.row["first_name"] == "Annegret" and rc.row["company"] is None
    assert rc.row["anonymized_at"] is None
    assert rc.row["updated_at"] == datetime(2024, 3, 1, 10, 15, 30, 123456, tzinfo=UTC)
    assert set(rc.row) == set(TABLES["person"].column_names)
    assert rc.kafka is not None and (rc.kafka.partition, rc.kafka.offset) == (0, 1)
    assert rc.position.connector == "postgresql"


def test_sqlserver_update_has_before_and_after() -> None:
    rc = change(f"{MSSQL}/09_person_update.json")
    assert rc.op == "u" and rc.table == "person" and rc.key == (30,)
    assert rc.before is not None and rc.before["phone"] == "+49 40 5550123"
    assert rc.after is not None and rc.after["phone"] == "+49 40 5550999"
    assert set(rc.after) == set(TABLES["person"].column_names)
    assert rc.position.connector == "sqlserver"
    assert rc.position.commit_lsn == "0000002e:00000100:0003"
    assert rc.position.change_lsn == "0000002e:00000100:0002"
    assert rc.position.event_serial_no == 2


def test_postgres_update_without_before_image() -> None:
    rc = change("postgres/person_update.json")
    assert rc.op == "u" and rc.before is None
    assert rc.after is not None and rc.after["email"] == "a.zwiebelhuber@example.net"
    assert rc.position.lsn == 24_024_200


@pytest.mark.parametrize("conn", CONNECTORS)
def test_delete_uses_before(conn: str) -> None:
    rc = change(f"{conn}/person_delete.json")
    assert rc.op == "d" and rc.after is None and rc.row is None
    assert rc.before is not None and rc.key == (4711,)


@pytest.mark.parametrize("conn", CONNECTORS)
def test_snapshot_read(conn: str) -> None:
    rc = change(f"{conn}/person_read.json")
    assert rc.op == "r" and rc.row is not None and rc.key == (4711,)


@pytest.mark.parametrize("conn", CONNECTORS)
def test_tombstone(conn: str) -> None:
    out = run(f"{conn}/person_tombstone.json")
    assert isinstance(out, Tombstone)
    assert out.table == "person"
    assert out.kafka is not None and out.kafka.offset == 4


def test_tombstone_variants() -> None:
    assert isinstance(decode("erp.erp.contract", 1, 2, None, b""), Tombstone)
    t = decode("erp.erp.contract", 1, 2, None, b'{"schema":null,"payload":null}')
    assert isinstance(t, Tombstone) and t.table == "contract"


@pytest.mark.parametrize("conn", CONNECTORS)
def test_contract_decimal_rent_and_dates(conn: str) -> None:
    row = change(f"{conn}/contract_create.json").row
    assert row is not None
    assert row["rent_amount"] == Decimal("1234.50") and str(row["rent_amount"]) == "1234.50"
    assert row["deposit_amount"] == Decimal("3703.50")
    assert row["start_date"] == date(2023, 4, 1) and row["end_date"] is None
    assert row["person_id"] == 4711 and row["unit_id"] == 17


@pytest.mark.parametrize("conn", CONNECTORS)
def test_unit_bit_and_numeric(conn: str) -> None:
    row = change(f"{conn}/unit_create.json").row
    assert row is not None
    assert row["is_phantom"] is True
    assert row["area"] == Decimal("72.35") and row["rooms"] == Decimal("3.5")
    assert row["valid_from"] == date(1998, 1, 1) and row["valid_to"] is None
    assert row["usage"] == "RESIDENTIAL"


def test_sqlserver_document_varbinary_datetime2() -> None:
    row = change(f"{MSSQL}/06_document_create.json").row
    assert row is not None
    assert row["content"].startswith(b"%PDF-1.7\n\x00\xff")
    assert row["created_at"].tzinfo is not None  # datetime2 (NanoTimestamp) read as UTC
    assert row["released"] is False


def test_postgres_document_bytea_timestamptz() -> None:
    row = change("postgres/document_create.json").row
    assert row is not None
    assert row["content"].startswith(b"%PDF-1.4\n\x00\xff")
    assert row["created_at"] == datetime(2024, 3, 1, 9, 15, 30, 123456, tzinfo=UTC)
    assert row["created_at"].tzinfo is not None


@pytest.mark.parametrize("names", [
    [f"postgres/{n}.json" for n in ("person_update", "contract_create", "unit_create", "document_create")],
    [f"{MSSQL}/{n}.json" for n in ("09_person_update", "04_contract_read", "02_unit_read", "06_document_create")],
], ids=["postgres", "sqlserver"])
def test_schemaless_payload_only(names: list[str]) -> None:
    for name in names:
        r = record(name)
        with_schema = change(name)
        payload = r["value"]["payload"]
        # Without a schema the scale of a base64 decimal is unknown: schemaless setups
        # use decimal.handling.mode=string, which is what this converts the event to.
        for image in ("before", "after"):
            for col in ("rent_amount", "deposit_amount", "area", "rooms"):
                if payload[image] and payload[image].get(col) is not None:
                    payload[image][col] = str(getattr(with_schema, image)[col])
        payload_only = decode(r["topic"], 0, 9, json.dumps(r["key"]["payload"]).encode(),
                              json.dumps(payload).encode())
        assert isinstance(payload_only, RowChange)
        assert payload_only.after == with_schema.after, name
        assert payload_only.before == with_schema.before, name
        assert payload_only.key == with_schema.key
        assert payload_only.position == with_schema.position


def test_schemaless_base64_decimal_is_malformed_not_guessed() -> None:
    from streams.cdc.model import MalformedEvent

    payload = record("postgres/contract_create.json")["value"]["payload"]
    with pytest.raises(MalformedEvent, match="decimal.handling.mode"):
        decode("erp.erp.contract", 0, 0, None, json.dumps(payload).encode())


def test_key_taken_from_record_key_when_row_lacks_it() -> None:
    r = record("postgres/person_delete.json")
    payload = r["value"]["payload"]
    payload["before"] = None
    rc = decode(r["topic"], 0, 3, encode(r["key"]), encode(r["value"]))
    assert isinstance(rc, RowChange) and rc.op == "d" and rc.before is None and rc.key == (4711,)


def test_composite_key_order_follows_registry() -> None:
    value = {
        "before": None,
        "after": {"person_id": 7, "contract_id": 3, "role": "CO_TENANT", "updated_at": "2024-01-01T00:00:00Z"},
        "source": {"connector": "postgresql", "schema": "erp", "table": "contract_party", "lsn": 5},
        "op": "c",
    }
    rc = decode("erp.erp.contract_party", 0, 0, None, json.dumps(value).encode())
    assert isinstance(rc, RowChange) and rc.key == (3, 7)


def test_unknown_columns_are_dropped() -> None:
    value = {
        "before": None,
        "after": {"mandant_no": 1, "name": "Hausverwaltung Nord", "legacy_flag": "x"},
        "source": {"connector": "postgresql", "schema": "erp", "table": "mandant", "lsn": 5},
        "op": "c",
    }
    rc = decode("erp.erp.mandant", 0, 0, None, json.dumps(value).encode())
    assert isinstance(rc, RowChange) and rc.after == {"mandant_no": 1, "name": "Hausverwaltung Nord"}


def test_table_names_are_case_insensitive_for_sqlserver() -> None:
    r = record(f"{MSSQL}/02_unit_read.json")
    r["value"]["payload"]["source"]["table"] = "Unit"
    rc = decode("erp.erp.erp.Unit", 0, 0, None, encode(r["value"]))
    assert isinstance(rc, RowChange) and rc.table == "unit"


# --- ordering -------------------------------------------------------------------------------


@pytest.mark.parametrize("conn", CONNECTORS)
def test_ordering_by_source_position(conn: str) -> None:
    names = ["person_delete", "contract_create", "person_update", "person_read", "unit_create", "person_create"]
    changes = [change(f"{conn}/{n}.json") for n in names]
    ordered = sorted(changes, key=lambda c: c.position.sort_key)
    got = [(c.table, c.op) for c in ordered]
    assert got == [("person", "r"), ("person", "c"), ("unit", "c"), ("contract", "c"),
                   ("person", "u"), ("person", "d")]


def test_sqlserver_ordering_by_commit_then_change_lsn() -> None:
    """The stream's files are numbered in the order SQL Server committed them; topics differ,
    so only the source position (snapshot first, then commit LSN, change LSN, serial) orders
    them. The key update's delete comes before its create in the same commit."""
    names = ["17_contract_update", "09_person_update", "16_person_pk_update_create", "03_person_read",
             "14_person_pk_update_delete", "06_document_create"]
    by_name = {n: change(f"{MSSQL}/{n}.json") for n in names}
    ordered = sorted(names, key=lambda n: by_name[n].position.sort_key)
    assert ordered == sorted(names)


def test_postgres_sort_key_is_numeric_not_lexicographic() -> None:
    r = record("postgres/person_create.json")
    small, big = json.loads(json.dumps(r)), json.loads(json.dumps(r))
    small["value"]["payload"]["source"]["lsn"] = 9_999
    big["value"]["payload"]["source"]["lsn"] = 10_000
    a = decode(small["topic"], 0, 0, None, encode(small["value"]))
    b = decode(big["topic"], 0, 1, None, encode(big["value"]))
    assert isinstance(a, RowChange) and isinstance(b, RowChange)
    assert a.position.sort_key < b.position.sort_key


# --- topics ---------------------------------------------------------------------------------


def test_topic_mapping() -> None:
    assert cdc_topic("erp", "person") == "erp.erp.person"
    assert cdc_topic("erp", "person", database="ERPDB") == "erp.ERPDB.erp.person"
    assert table_of_topic("erp.ERPDB.erp.person") == "person"
    assert table_of_topic("my.dotted.prefix.erp.contract_party") == "contract_party"
    assert table_of_topic("erp.erp.nonsense") is None
    assert table_of_topic("erp.dbo.person") is None
    assert table_of_topic("person") is None
    assert parse_cdc_topic("a.erp.unit") == ("a", "erp", "unit")
    assert len(cdc_topics("erp")) == len(TABLES)
    import re

    pat = re.compile(cdc_topic_pattern("erp", database="ERPDB"))
    assert pat.match("erp.ERPDB.erp.unit") and not pat.match("erp.ERPDB.erp.unitx")
    assert not pat.match("erp.erp.unit")


def test_the_position_held_in_memory_orders_as_the_source_position() -> None:
    # the worker keeps each row's position as one integer (streams.worker.rowcodec.position_order):
    # it must order the captured SQL Server stream and PostgreSQL events as sort_key does
    from streams.worker.rowcodec import position_order
    names = sorted(p.stem for p in (FIXTURES / MSSQL).glob("*.json"))
    changes = [c for c in (run(f"{MSSQL}/{n}.json") for n in names) if isinstance(c, RowChange) and c.position.known]
    assert len(changes) > 10
    by_tuple = sorted(range(len(changes)), key=lambda i: changes[i].position.sort_key)
    by_int = sorted(range(len(changes)), key=lambda i: position_order(changes[i].position.sort_key))
    assert by_int == by_tuple and all(isinstance(position_order(c.position.sort_key), int) for c in changes)
    postgres = [change(f"{conn}/{n}.json") for conn in ("postgres",) for n in
                ["person_delete", "contract_create", "person_update", "person_read", "unit_create", "person_create"]]
    assert sorted(postgres, key=lambda c: position_order(c.position.sort_key)) == sorted(
        postgres, key=lambda c: c.position.sort_key)
    assert position_order(("not-an-lsn", "", 3)) == ("not-an-lsn", "", 3)  # another form stays the tuple


def test_a_state_entry_gives_back_its_row_with_tagged_values_and_its_position() -> None:
    # the worker reads a stored row and its position with one read when it checks a change for a replay
    from datetime import date as _date
    from decimal import Decimal
    from streams.worker.rowcodec import dumps_entry, loads_entry
    row = {"id": 7, "since": _date(2020, 1, 1), "rent": Decimal("512.30")}
    for position in [("00000000000000000042", "", 0), ("0000002b:00000c30:0003", "0000002b:00000c30:0002", 2), None]:
        assert loads_entry(dumps_entry(row, position)) == (row, position)
    assert loads_entry(dumps_entry(None, ("1", "", 0))) == (None, ("1", "", 0))


def test_events_of_a_topic_after_the_first_decode_alike_also_when_the_schema_changes_or_the_payload_is_cut() -> None:
    # the decoder remembers a topic's last envelope head (schema); each case decoded by a decoder
    # that has seen the topic and by a fresh one gives the same
    from streams.cdc.decode import Decoder
    from streams.cdc.model import MalformedEvent

    seen = Decoder()
    r = record("postgres/person_update.json")
    topic, key = r["topic"], encode(r["key"])
    first = encode(r["value"])
    assert first is not None and first.startswith(b'{"schema":')
    value = json.loads(first)
    value["payload"]["after"]["first_name"] = "Berta"
    same_schema = encode(value)
    retyped = json.loads(json.dumps(value))  # the column's type changed in the ERP: so did the schema
    assert retyped["schema"]["fields"][1]["field"] == "after"
    updated = next(f for f in retyped["schema"]["fields"][1]["fields"] if f["field"] == "updated_at")
    updated.update(type="int64", name="io.debezium.time.MicroTimestamp")  # a read by the old schema fails
    retyped["payload"]["after"]["updated_at"] = 1_709_288_130_123_456
    # a head of the same length as the last one (a space inside the schema): only its bytes tell
    new_schema = encode(retyped)
    assert new_schema is not None
    new_schema = new_schema.replace(b'"type":"int64","name":"io.debezium.time.MicroTimestamp"',
                                    b'"type": "int64","name":"io.debezium.time.MicroTimestamp"', 1)
    assert new_schema.index(b',"payload":') == same_schema.index(b',"payload":')
    cases = [first, same_schema, new_schema, same_schema, first]
    got = [seen.decode(topic, 0, i, key, v) for i, v in enumerate(cases)]
    assert got == [Decoder().decode(topic, 0, i, key, v) for i, v in enumerate(cases)]
    assert [c.row["first_name"] for c in got if isinstance(c, RowChange) and c.row] == \
        ["Annegret", "Berta", "Berta", "Berta", "Annegret"]
    assert same_schema is not None
    with pytest.raises(MalformedEvent):  # the head known, the rest not one JSON value
        seen.decode(topic, 0, 1, key, same_schema[:-40] + b"}")
    extra_key = same_schema[:-1] + b',"x":1}'  # the head known, an envelope key after the payload
    assert seen.decode(topic, 0, 1, key, extra_key) == got[1] == Decoder().decode(topic, 0, 1, key, extra_key)
