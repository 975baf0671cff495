"""A Kafka record as the bridge's consumers read it: aiokafka's ``ConsumerRecord`` and Faust's
``Message`` both are one, and so is ``streams.worker.step.Record`` (tests, tools)."""

from __future__ import annotations

from typing import Protocol


class KafkaRecord(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
