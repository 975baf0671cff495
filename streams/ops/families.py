"""Prometheus metric families built from the counts worker and sink keep in their status:
one sample, or one sample per leaf of a nested count (``{entity: {op: n}}`` with labels
``entity``, ``op``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

Family = CounterMetricFamily | GaugeMetricFamily


def counter(name: str, text: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text)
    family.add_metric([], value)
    return family


def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text)
    family.add_metric([], value)
    return family


def labelled(kind: type[Family], name: str, text: str, labels: Sequence[str], counts: Mapping[str, Any]) -> Family:
    """A family of ``kind`` with one sample per leaf of ``counts``, nested one level per label."""
    family = kind(name, text, labels=list(labels))
    for values, n in _leaves(counts, len(labels)):
        family.add_metric(values, n)
    return family


def _leaves(counts: Mapping[str, Any], depth: int) -> Iterator[tuple[list[str], float]]:
    for key, value in counts.items():
        if depth == 1:
            yield [key], value
        else:
            for rest, n in _leaves(value, depth - 1):
                yield [key, *rest], n
