"""Kafka static membership of the worker: the member id follows the subscription, because a
static member that rejoins is handed its previous assignment without a rebalance."""

from __future__ import annotations

from streams.worker.app import static_member_id

TOPICS = ["erp.erp.unit", "erp.erp.person", "bridge.ticks", "casavi.receipts", "erp-rows", "emitted-test"]


def test_a_restart_with_the_same_topics_keeps_its_member_id() -> None:
    assert static_member_id("worker-0", TOPICS) == static_member_id("worker-0", list(reversed(TOPICS)))
    assert static_member_id("worker-0", TOPICS).startswith("worker-0-")  # type: ignore[union-attr]


def test_other_topics_make_another_member() -> None:
    production = [t.replace("emitted-test", "emitted-production") for t in TOPICS]
    assert static_member_id("worker-0", TOPICS) != static_member_id("worker-0", production)
    assert static_member_id("worker-0", TOPICS) != static_member_id("worker-1", TOPICS)


def test_an_empty_instance_id_is_dynamic_membership() -> None:
    assert static_member_id("", TOPICS) is None
