"""The sink's error table: what it does for every kind of casavi answer."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import httpx
import pytest

from streams.sink.policy import Action, Backoff, classify_exception, classify_status, retry_after_s


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, Action.SUCCESS), (201, Action.SUCCESS), (202, Action.SUCCESS),
        (400, Action.FAIL_BATCH), (413, Action.FAIL_BATCH), (422, Action.FAIL_BATCH),
        (401, Action.REAUTHENTICATE),
        (403, Action.FAIL), (404, Action.FAIL), (409, Action.FAIL),
        (408, Action.RETRY), (429, Action.RATE_LIMITED),
        (500, Action.RETRY), (502, Action.RETRY), (503, Action.RETRY), (504, Action.RETRY),
        (302, Action.FAIL),
    ],
)
def test_status_table(status: int, action: Action) -> None:
    assert classify_status(status).action is action


@pytest.mark.parametrize("status", [400, 401, 403])
def test_rejected_credentials_wait_for_the_operator(status: int) -> None:
    # Commands must not be dropped because the key or secret is wrong: keep retrying.
    assert classify_status(status, authenticating=True).action is Action.RETRY


def test_authentication_uses_the_common_table_otherwise() -> None:
    assert classify_status(429, authenticating=True).action is Action.RATE_LIMITED
    assert classify_status(503, authenticating=True).action is Action.RETRY
    assert classify_status(200, authenticating=True).action is Action.SUCCESS


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset"), httpx.WriteError("reset"),
    ],
)
def test_transport_errors_are_retried(exc: Exception) -> None:
    rule = classify_exception(exc)
    assert rule is not None and rule.action is Action.RETRY


def test_other_exceptions_are_not_classified() -> None:
    assert classify_exception(ValueError("bug")) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, max_retries=5, exhausted_s=60.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
        assert not backoff.exhausted(attempt)


def test_backoff_never_gives_up() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, max_retries=3, exhausted_s=60.0)
    rng = random.Random(2)
    for attempt in (4, 10, 1000):
        assert backoff.exhausted(attempt)
        assert 48.0 <= backoff.delay(attempt, rng) <= 72.0


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s(" 1.5 ", now) == 1.5
    assert retry_after_s("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_s("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0  # in the past: go now
    assert retry_after_s("-3", now) == 0.0
    assert retry_after_s("999999", now) == 600.0  # capped
    assert retry_after_s(None, now) is None
    assert retry_after_s("soon", now) is None
    assert retry_after_s("nan", now) is None
