"""What the sink does when casavi answers with an error: declared as data, not as code paths.

Every answer of the casavi manager API (or a failure to get one) maps to one ``Action``:

* ``RETRY``: casavi or the network is in trouble. Wait (exponential backoff with full
  jitter) and send the same request again. After ``max_retries`` attempts the sink
  logs that casavi is unavailable and keeps trying at the capped interval: casavi being
  down must never lose a command, it only delays it.
* ``RATE_LIMITED``: casavi asks the sink to slow down (429). Wait as long as its
  ``Retry-After`` says (backoff when it does not say), then retry.
* ``REAUTHENTICATE``: the token is no longer valid (401). Authenticate once more and
  retry; a second 401 in a row is treated as ``RETRY`` (casavi is not accepting the
  credentials right now; the operator is told in the log).
* ``FAIL_BATCH``: the request itself is bad (400, 413, 422). Retrying it unchanged cannot
  help; the sink splits the import in halves until the offending commands are isolated
  and dead-lettered, and applies the rest.
* ``FAIL``: any other 4xx. The request is refused for good; its commands are dead-lettered.

The authentication request has its own table: rejected credentials are an operator's
configuration problem, and commands wait for it to be fixed rather than being dropped.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx


class Action(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    REAUTHENTICATE = "reauthenticate"
    FAIL_BATCH = "fail_batch"
    FAIL = "fail"


@dataclass(frozen=True)
class Rule:
    action: Action
    why: str


# HTTP status -> action, for every request except the authentication itself.
STATUS_RULES: Mapping[int, Rule] = {
    400: Rule(Action.FAIL_BATCH, "casavi rejected the request body"),
    401: Rule(Action.REAUTHENTICATE, "token expired or revoked"),
    408: Rule(Action.RETRY, "request timed out at casavi"),
    413: Rule(Action.FAIL_BATCH, "request body too large"),
    422: Rule(Action.FAIL_BATCH, "casavi could not process the request body"),
    425: Rule(Action.RETRY, "casavi asks to retry later"),
    429: Rule(Action.RATE_LIMITED, "rate limit reached"),
}
# Statuses of the authentication request that differ from STATUS_RULES.
AUTH_STATUS_RULES: Mapping[int, Rule] = {
    400: Rule(Action.RETRY, "casavi rejected the credentials request; check the key and secret"),
    401: Rule(Action.RETRY, "casavi rejected the credentials; check the key and secret"),
    403: Rule(Action.RETRY, "casavi refused the credentials; check the key and secret"),
}
# Status classes, when no rule names the exact status.
CLASS_RULES: Mapping[int, Rule] = {
    2: Rule(Action.SUCCESS, "accepted"),
    3: Rule(Action.FAIL, "unexpected redirect"),
    4: Rule(Action.FAIL, "casavi refused the request"),
    5: Rule(Action.RETRY, "casavi is unavailable or failing"),
}
# Transport failures (no HTTP answer at all), most specific first.
TRANSPORT_RULES: tuple[tuple[type[BaseException], Rule], ...] = (
    (httpx.TimeoutException, Rule(Action.RETRY, "no answer from casavi in time")),
    (httpx.NetworkError, Rule(Action.RETRY, "connection to casavi failed")),
    (httpx.RemoteProtocolError, Rule(Action.RETRY, "casavi dropped the connection")),
    (httpx.TransportError, Rule(Action.RETRY, "transport error talking to casavi")),
)


def classify_status(status: int, *, authenticating: bool = False) -> Rule:
    """The rule for an HTTP answer."""
    if authenticating and status in AUTH_STATUS_RULES:
        return AUTH_STATUS_RULES[status]
    if status in STATUS_RULES:
        return STATUS_RULES[status]
    return CLASS_RULES.get(status // 100, Rule(Action.FAIL, "unexpected status"))


def classify_exception(exc: BaseException) -> Rule | None:
    """The rule for a failure without an HTTP answer; ``None`` when it is not a transport error."""
    for kind, rule in TRANSPORT_RULES:
        if isinstance(exc, kind):
            return rule
    return None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter.

    Attempt ``n`` (1-based) of a series waits a random time in ``[0, min(cap_s, base_s·2^(n-1))]``.
    Once ``max_retries`` is exceeded the series is *exhausted*: the caller reports it and
    keeps retrying at ``exhausted_s`` (± jitter) for as long as it takes.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    max_retries: int = 8
    exhausted_s: float = 60.0

    def exhausted(self, attempt: int) -> bool:
        return attempt > self.max_retries

    def delay(self, attempt: int, rng: random.Random) -> float:
        if self.exhausted(attempt):
            # ±20 % so that several sinks do not knock in lockstep.
            return self.exhausted_s * (0.8 + 0.4 * rng.random())
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))
        return ceiling * rng.random()


MAX_RETRY_AFTER_S = 600.0


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped;
    ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
