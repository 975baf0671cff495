"""The worker's Kafka consumer: Faust's, without four asyncio tasks per record.

Faust's consumer hands every fetched record to the conductor (which puts it into the agent's
channel queue) through ``Service.wait_first(callback(message), suspend_flow.wait())``: four
tasks created, awaited and cancelled per record (the callback, the flow suspension, the
consumer stopping, the consumer crashing), so that a callback blocked on a full queue can be
abandoned when a rebalance suspends the flow. At the CDC topics' rates that is a large part of
the worker's time per event (``bench/README.md``, "(b) throughput").

``Consumer.wait_first`` runs the callback directly when it cannot block: the flow is not
suspended, the consumer is neither stopping nor crashed, the conductor's lock is free and no
channel queue is full — then the conductor's callback decodes the record and puts it into the
queue without awaiting anything. Otherwise it is Faust's ``wait_first`` as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TransportT
from mode.services import WaitResults


class Consumer(driver.Consumer):
    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        if len(coros) == 2 and timeout is None and self._cannot_block():
            callback, suspended = coros
            if asyncio.iscoroutine(callback) and asyncio.iscoroutine(suspended):
                suspended.close()  # never started: the flow is not suspended
                return WaitResults([callback], [await callback], False)
        return await super().wait_first(*coros, timeout=timeout)

    def _cannot_block(self) -> bool:
        if self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set():
            return False
        conductor: Any = self.app.topics  # faust.transport.conductor.Conductor
        if conductor._tp_to_callback_lock.locked():
            return False
        for channel in conductor:
            queue = getattr(channel, "_queue", None)
            if queue is not None and queue.full():
                return False
        return True


class Transport(driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """A Faust app whose consumer is ``Consumer`` (the producer stays Faust's)."""

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)
