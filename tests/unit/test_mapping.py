"""The ERP mapping: checked against the reference schema, compiled into the decoder.

Events are built in the JSON converter's envelope as the PostgreSQL connector writes it
(the ``source`` block is copied from a record captured from the real connector,
``tests/fixtures/debezium/postgres_captured/unit_01_c.json``), for the example profile's
own tables (``connect/mappings/example-immo.yaml``).
"""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.cdc.decode import Decoder
from streams.cdc.model import MalformedEvent, RowChange
from streams.erp.schema import TABLES
from streams.mapping import MappingError, identity_mapping, load_mapping, stable_id
from streams.mapping.connector import captured_problems, connector_config, include_lists
from streams.settings import BridgeSettings, SourceSettings, SyncSettings
from streams.stack.paths import CONNECT_DIR
from streams.worker.processor import Processor

EXAMPLE = CONNECT_DIR / "mappings" / "example-immo.yaml"
CAPTURED = Path(__file__).parents[1] / "fixtures" / "debezium" / "postgres_captured" / "unit_01_c.json"

INT = {"type": "int32"}
STR = {"type": "string"}
DATE = {"type": "int32", "name": "io.debezium.time.Date", "version": 1}


def dec(scale: int) -> dict[str, Any]:
    return {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
            "parameters": {"scale": str(scale)}}


def enc_dec(value: str, scale: int) -> str:
    import base64

    unscaled = int(Decimal(value).scaleb(scale))
    return base64.b64encode(unscaled.to_bytes(max(1, (unscaled.bit_length() + 8) // 8), "big", signed=True)).decode()


def event(table: str, op: str, after: dict[str, Any] | None, types: dict[str, dict[str, Any]],
          before: dict[str, Any] | None = None, lsn: int = 1000) -> tuple[str, bytes]:
    source = copy.deepcopy(json.loads(CAPTURED.read_text())["value"]["payload"]["source"])
    source.update({"schema": "immo", "table": table, "lsn": lsn})
    fields = [{"field": n, "optional": True, **t} for n, t in types.items()]
    row_schema = {"type": "struct", "fields": fields, "optional": True, "name": f"immo.{table}.Value"}
    schema = {"type": "struct", "name": f"immo.{table}.Envelope", "fields": [
        {**row_schema, "field": "before"}, {**row_schema, "field": "after"},
        {"type": "struct", "field": "source", "fields": []}, {"type": "string", "field": "op"},
    ]}
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 1}
    return f"erp.immo.{table}", json.dumps({"schema": schema, "payload": payload}).encode()


EINHEIT = {"obj_id": INT, "einh_nr": STR, "geb_id": INT, "lage": STR, "nutzungsart": STR, "einh_art": STR,
           "wohnflaeche": dec(2), "geschoss": STR, "zimmer": dec(1), "gueltig_ab": DATE, "gueltig_bis": DATE}
VERTRAG = {"vertrag_id": INT, "vertrag_nr": STR, "vertragsart": STR, "obj_id": INT, "einh_nr": STR,
           "pers_id": INT, "beginn": DATE, "ende": DATE, "sollmiete": dec(2), "kaution": dec(2), "status": STR}


def einheit(**over: Any) -> dict[str, Any]:
    row = {"obj_id": 17, "einh_nr": "0003", "geb_id": 170, "lage": "2. OG links", "nutzungsart": "W",
           "einh_art": "R", "wohnflaeche": enc_dec("61.50", 2), "geschoss": "2", "zimmer": enc_dec("2.5", 1),
           "gueltig_ab": (date(2020, 1, 1) - date(1970, 1, 1)).days, "gueltig_bis": None}
    return {**row, **over}


def vertrag(**over: Any) -> dict[str, Any]:
    row = {"vertrag_id": 900, "vertrag_nr": "01", "vertragsart": "M", "obj_id": 17, "einh_nr": "0003",
           "pers_id": 5, "beginn": (date(2021, 1, 1) - date(1970, 1, 1)).days, "ende": None,
           "sollmiete": enc_dec("812.40", 2), "kaution": enc_dec("2400.00", 2), "status": "A"}
    return {**row, **over}


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return Decoder(load_mapping(EXAMPLE))


def change(decoder: Decoder, topic: str, value: bytes) -> RowChange:
    out = decoder.decode(topic, 0, 1, None, value)
    assert isinstance(out, RowChange)
    return out


def test_example_profile_maps_names_codes_constants_and_composite_ids(decoder: Decoder) -> None:
    c = change(decoder, *event("einheit", "c", einheit(), EINHEIT))
    assert c.table == "unit"
    assert c.after == {
        "unit_id": stable_id([17, "0003"]), "property_id": 17, "building_id": 170, "unit_no": "0003",
        "name": "2. OG links", "usage": "RESIDENTIAL", "area": Decimal("61.50"), "floor": "2",
        "rooms": Decimal("2.5"), "valid_from": date(2020, 1, 1), "valid_to": None, "is_phantom": False,
    }
    assert c.key == (stable_id([17, "0003"]),)
    phantom = change(decoder, *event("einheit", "c", einheit(einh_art="F", nutzungsart="Q"), EINHEIT))
    assert phantom.after is not None and phantom.after["is_phantom"] is True and phantom.after["usage"] == "OTHER"


def test_composite_ids_match_across_tables(decoder: Decoder) -> None:
    """The contract's unit id, built from its own columns, names the unit row."""
    unit = change(decoder, *event("einheit", "c", einheit(), EINHEIT))
    contract = change(decoder, *event("vertrag", "c", vertrag(), VERTRAG))
    assert contract.after is not None and contract.after["unit_id"] == unit.key[0]
    assert contract.after["contract_type"] == "TENANT"
    assert stable_id([17, "0003"]) != stable_id([170, "003"]) and stable_id([1]) > 0


def test_char_codes_are_compared_without_blank_padding(decoder: Decoder) -> None:
    padded = change(decoder, *event("einheit", "c", einheit(nutzungsart="G  "), EINHEIT))
    assert padded.after is not None and padded.after["usage"] == "COMMERCIAL"


def test_code_without_translation_is_malformed_naming_the_entry_not_the_value(decoder: Decoder) -> None:
    topic, value = event("vertrag", "c", vertrag(vertragsart="Z"), VERTRAG)
    with pytest.raises(MalformedEvent) as err:
        decoder.decode(topic, 0, 7, None, value)
    assert "vertrag.vertragsart -> contract.contract_type" in err.value.reason
    assert "'Z'" not in str(err.value) and err.value.kafka is not None and err.value.kafka.offset == 7


def test_skipped_rows_are_deletes(decoder: Decoder) -> None:
    """A cancelled contract (status S) is treated as absent: an update into it deletes the row."""
    p = Processor(SyncSettings(today=date(2026, 11, 22)))
    created = change(decoder, *event("vertrag", "c", vertrag(), VERTRAG, lsn=1000))
    p.fold([created])
    assert p.state.get("contract", (900,)) is not None
    cancelled = change(decoder, *event("vertrag", "u", vertrag(status="S"), VERTRAG, before=vertrag(), lsn=1001))
    assert cancelled.op == "d" and cancelled.after is None and cancelled.key == (900,)
    p.fold([cancelled])
    assert p.state.get("contract", (900,)) is None
    again = change(decoder, *event("vertrag", "u", vertrag(), VERTRAG, before=vertrag(status="S"), lsn=1002))
    assert again.op == "u"
    p.fold([again])
    assert p.state.get("contract", (900,)) is not None


def test_a_source_column_missing_from_the_event_names_the_mapping_entry(decoder: Decoder) -> None:
    types = {k: v for k, v in VERTRAG.items() if k != "sollmiete"}
    row = {k: v for k, v in vertrag().items() if k != "sollmiete"}
    topic, value = event("vertrag", "c", row, types)
    with pytest.raises(MalformedEvent) as err:
        decoder.decode(topic, 0, 3, None, value)
    assert "immo.vertrag" in err.value.reason and "sollmiete" in err.value.reason


def test_tables_the_mapping_does_not_name_are_unknown(decoder: Decoder) -> None:
    topic, value = event("buchung", "c", {"id": 1}, {"id": INT})
    with pytest.raises(MalformedEvent, match="unknown table"):
        decoder.decode(topic, 0, 1, None, value)
    assert decoder.decode("erp.immo.objekt", 0, 9, None, None).table == "property"  # type: ignore[union-attr]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "message"), [
    ("tables: [{source: X, target: salary}]", "X -> salary: no such reference table"),
    ("tables: [{source: X, target: mandant, columns: {mandant_no: A, colour: B}}]",
     "X.B -> mandant.colour: no such column in erp.mandant"),
    ("tables: [{source: X, target: property, columns: {property_id: A, mandant_no: B}}]",
     "required column property.property_no is not mapped"),
    ("tables: [{source: X, target: unit, columns: {unit_id: A, property_id: B, unit_no: C,"
     " usage: {column: D, codes: {W: WOHNEN}}}}]", "X.D -> unit.usage: 'WOHNEN' is not one of"),
    ("tables: [{source: X, target: unit, columns: {unit_id: A, property_id: B, unit_no: {composite: [C, D]}}}]",
     "a composite makes an integer id"),
    ("tables: [{source: X, target: mandant, columns: {mandant_no: {column: A, const: 1}}}]",
     "give exactly one of column, composite, const"),
    ("tables: [{source: X, target: mandant, columns: {mandant_no: A}}, {source: x, target: mandant,"
     " columns: {mandant_no: A}}]", "mapped twice"),
    ("tables: [unclosed", "not valid YAML"),
])
def test_mappings_that_cannot_work_fail_at_load_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(MappingError) as err:
        load_mapping(write(tmp_path, text))
    assert message in str(err.value)


def test_identity_mapping_is_the_reference_schema() -> None:
    m = identity_mapping()
    assert {t.source for t in m.tables} == set(TABLES) and m.is_identity
    assert all(t.schema == "erp" and t.target.name == t.source for t in m.tables)


def test_connector_captures_exactly_the_mapped_tables() -> None:
    settings = BridgeSettings(source=SourceSettings(connector="sqlserver", database="erp"))
    for template in ("postgres-connector.json", "sqlserver-connector.json"):
        shipped = json.loads((CONNECT_DIR / template).read_text())["config"]
        assert captured_problems(shipped, identity_mapping(), others=["erp.booking", "dbo.person"]) == []
        assert {k: shipped[k] for k in include_lists(identity_mapping())} == include_lists(identity_mapping())
    example = load_mapping(EXAMPLE)
    name, config = connector_config("sqlserver", settings, example)
    assert config["table.include.list"].count(",") == len(example.tables) - 1
    assert config["database.names"] == "erp" and name == "erp-sqlserver"
    assert captured_problems(config, example, others=["immo.buchung"]) == []
    assert captured_problems({"schema.include.list": "immo", "table.include.list": "immo\\..*"}, example,
                             others=["immo.buchung"]) == ["table immo.buchung is captured but not mapped"]
    assert "mapped table immo.vertrag is not captured" in captured_problems(
        {"table.include.list": "immo\\.objekt"}, example)


def test_a_second_capture_gets_its_own_name_slot_and_publication() -> None:
    settings = BridgeSettings()
    settings.kafka.cdc_topic_prefix = "immo-e2e"
    name, config = connector_config("postgresql", settings, load_mapping(EXAMPLE))
    assert name == "immo-e2e-postgresql"
    assert config["slot.name"] == config["publication.name"] == "casavi_bridge_immo_e2e"
    assert config["topic.prefix"] == "immo-e2e"


def test_rows_read_from_the_database_map_like_events(decoder: Decoder) -> None:
    """The same row read by SQL (e.g. to compare casavi with the ERP) maps to the same reference row."""
    tm = load_mapping(EXAMPLE).table("immo", "einheit")
    assert tm is not None
    db_row = {"obj_id": 17, "einh_nr": "0003", "geb_id": 170, "lage": "2. OG links", "nutzungsart": "W",
              "einh_art": "R", "wohnflaeche": Decimal("61.50"), "geschoss": "2", "zimmer": Decimal("2.5"),
              "gueltig_ab": date(2020, 1, 1), "gueltig_bis": None}
    assert tm.map_row(db_row) == change(decoder, *event("einheit", "c", einheit(), EINHEIT)).after
    skipped = load_mapping(EXAMPLE).table("immo", "vertrag")
    assert skipped is not None and skipped.map_row({"status": "S"}) is None
