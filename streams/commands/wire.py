"""Which format the commands topic has: plain Avro bodies, or the schema registry's wire format
when ``BRIDGE_KAFKA__SCHEMA_REGISTRY_URL`` is set (``streams.commands.registry``).

Writers (the worker, ``bridge reconcile``) ask ``command_schema_id`` once at start: it registers
the command schema under ``<commands topic>-value`` (the registry answers with the id it already
has when nothing changed). Readers (the sink) take ``writer_schemas``: framed records are read
with the schema their id names; the id this bridge registered needs no request.
"""

from __future__ import annotations

import json
from typing import Any

import fastavro

from streams.commands.model import SCHEMA_PATH, WriterSchemas
from streams.commands.registry import SchemaRegistry, subject_of
from streams.settings import KafkaSettings


def command_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def command_schema_id(kafka: KafkaSettings, registry: SchemaRegistry | None = None) -> int | None:
    """The registry's id of the command schema (registered now if it is new); None without a registry.
    Raises ``RegistryError`` when the registry does not answer or refuses the schema."""
    if not kafka.schema_registry_url:
        return None
    own = registry or SchemaRegistry(kafka.schema_registry_url)
    try:
        return own.register(subject_of(kafka.commands_topic), command_schema())
    finally:
        if registry is None:
            own.close()


class RegistrySchemas:
    """Writer schemas from the registry, each asked once; the current command schema's id is known
    from the start (registering it answers its id), so reading current records needs no request."""

    def __init__(self, registry: SchemaRegistry, own_id: int | None) -> None:
        self.registry = registry
        self._parsed: dict[int, Any] = {}
        if own_id is not None:
            self._parsed[own_id] = fastavro.parse_schema(command_schema())

    def known(self, schema_id: int) -> Any | None:
        return self._parsed.get(schema_id)

    def lookup(self, schema_id: int) -> Any:
        if schema_id not in self._parsed:
            self._parsed[schema_id] = fastavro.parse_schema(self.registry.schema(schema_id))
        return self._parsed[schema_id]


def writer_schemas(kafka: KafkaSettings, registry: SchemaRegistry | None = None) -> WriterSchemas | None:
    """The writer schemas of framed commands; None without a registry (framed records are then read
    with the bridge's own schema). Raises ``RegistryError`` when the registry does not answer."""
    if not kafka.schema_registry_url:
        return None
    source = registry or SchemaRegistry(kafka.schema_registry_url)
    return RegistrySchemas(source, command_schema_id(kafka, source))
