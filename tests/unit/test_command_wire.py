"""Commands in the schema registry's wire format (magic byte 0, schema id, Avro body) against an
in-process fake of the registry's REST API; readers take both that and plain Avro."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.commands.model import CasaviCommand, CommandCodecError, decode, encode
from streams.commands.registry import (RegistryError, SchemaRegistry, UnknownSchema, frame, subject_of,
                                       unframe)
from streams.commands.wire import command_schema, command_schema_id, writer_schemas
from streams.settings import KafkaSettings
from tests.unit.casavi_commands import contact, prop, unit
from tests.unit.registry_fake import FakeRegistry

URL = "http://registry.test:8081"


def client(fake: FakeRegistry) -> SchemaRegistry:
    return SchemaRegistry(URL, transport=fake.transport())


KAFKA = KafkaSettings(schema_registry_url=URL, commands_topic="casavi.commands")


def test_wire_format_is_magic_byte_schema_id_and_avro_body() -> None:
    command = prop("7001-E801")
    framed = encode(command, 258)
    assert framed[:5] == b"\x00\x00\x00\x01\x02" and framed[5:] == encode(command)
    assert unframe(framed) == (258, encode(command))
    assert unframe(b"\x02abcdef") is None and unframe(b"\x00\x00") is None
    assert frame(7, b"x") == b"\x00\x00\x00\x00\x07x"


def test_command_schema_registered_under_the_topics_value_subject_once() -> None:
    fake = FakeRegistry()
    registry = client(fake)
    first = command_schema_id(KAFKA, registry)
    assert first == command_schema_id(KAFKA, registry) == 1
    assert fake.subjects == {"casavi.commands-value": [1]} and subject_of("casavi.dlq") == "casavi.dlq-value"
    assert registry.schema(1) == command_schema()
    assert command_schema_id(KafkaSettings(), registry) is None  # no registry: plain Avro


def test_readers_take_both_formats() -> None:
    fake = FakeRegistry()
    schemas = writer_schemas(KAFKA, client(fake))
    assert schemas is not None and writer_schemas(KafkaSettings()) is None
    commands = [contact("K1"), prop("7001-E801"), unit("7001-E801-0001", "7001-E801"),
                CasaviCommand.delete("contact", "K2", system="test")]
    assert encode(commands[0])[:2] == b"\x00\x00"  # a plain UPSERT of a contact starts like a framed record
    for command in commands:
        for payload in (encode(command), encode(command, 1)):
            assert decode(payload, schemas) == command
            assert decode(payload) == command  # a reader without the registry: the bridge's own schema
    assert fake.requests == ["POST /subjects/casavi.commands-value/versions"]  # the own id needs no lookup


def test_framed_records_are_read_with_the_schema_they_name() -> None:
    """A command written by an older bridge (its schema without the later fields) is resolved
    to the current schema: the new fields take their defaults."""
    fake = FakeRegistry()
    registry = client(fake)
    old = command_schema()
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("root", "system")]
    old_id = registry.register("casavi.commands-value", old)
    import io

    import fastavro

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(old), {
        "op": "DELETE", "entity": "unit", "reference_id": "U1", "parent_ids": ["P1"], "document": None,
        "content_hash": "", "reason": "R13", "emitted_at_ms": 5, "source_ts_ms": None})
    schemas = writer_schemas(KAFKA, registry)
    assert schemas is not None
    command = decode(frame(old_id, buf.getvalue()), schemas)
    assert (command.reference_id, command.parent_ids, command.root, command.system) == ("U1", ("P1",), None, None)


def test_garbage_is_a_codec_error_not_a_crash() -> None:
    schemas = writer_schemas(KAFKA, client(FakeRegistry()))
    for payload in (b"", b"\x00\x00\x00\x00\x63garbage", b"\x00\x00\x00\x00\x01", b"\xff" * 20):
        with pytest.raises(CommandCodecError):
            decode(payload, schemas)


def test_registry_errors_are_clear() -> None:
    fake = FakeRegistry()
    registry = client(fake)
    with pytest.raises(UnknownSchema):
        registry.schema(42)
    with pytest.raises(RegistryError, match="500 to GET /nothing: unexpected"):
        registry._call("GET", "/nothing")
    fake.down = True
    with pytest.raises(RegistryError, match="not reachable"):
        command_schema_id(KAFKA, registry)


SCHEMAS = writer_schemas(KAFKA, client(FakeRegistry()))  # the command schema has id 1


@settings(max_examples=1000, deadline=None)
@given(ref=st.text(st.characters(codec="utf-8"), min_size=1, max_size=40), op=st.sampled_from(["UPSERT", "DELETE"]),
       entity=st.sampled_from(["contact", "property", "unit", "contract", "staff", "responsibility"]),
       schema_id=st.integers(min_value=1, max_value=2**31 - 1), doc=st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_either_format_reads_back_as_written(ref: str, op: str, entity: Any, schema_id: int,
                                             doc: dict[str, str]) -> None:
    """Without a registry a framed record of any id, and with one the records of its id, read back
    as written; so does every plain record, whatever its first bytes."""
    command = (CasaviCommand.upsert(entity, ref, {"id": ref, **doc}) if op == "UPSERT"
               else CasaviCommand.delete(entity, ref))
    assert decode(encode(command)) == command
    assert decode(encode(command, schema_id)) == command
    assert decode(encode(command), SCHEMAS) == command
    assert decode(encode(command, 1), SCHEMAS) == command
