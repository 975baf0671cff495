"""CasaviClient against the casavi simulator (in-process) and a scripted transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from streams.settings import CasaviSettings
from streams.simulator.app import SimulatorConfig, create_app
from streams.sink.client import CasaviClient, CasaviError
from streams.sink.policy import Action, Backoff

BASE = "http://casavi.test"


class Sleeps:
    """Records the waits the client asks for, and yields instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def settings(**kw: Any) -> CasaviSettings:
    values: dict[str, Any] = {"requests_per_minute": 600_000, "job_poll_interval_s": 0.01, "job_timeout_s": 10,
                              "max_retries": 3, **kw}
    s = CasaviSettings(**values)
    return s.model_copy(update={"test": s.test.model_copy(update={"url": BASE})})


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SimulatorConfig(db_path=":memory:"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as admin:
        admin.app = app  # type: ignore[attr-defined]
        yield admin


def client_for(sim: httpx.AsyncClient, sleeps: Sleeps | None = None, **kw: Any) -> CasaviClient:
    app = sim.app  # type: ignore[attr-defined]
    return CasaviClient(settings(**kw), transport=httpx.ASGITransport(app=app), sleep=sleeps or Sleeps(),
                        backoff=Backoff(base_s=0.01, cap_s=0.05, max_retries=3, exhausted_s=0.05))


CONTACT = {"id": "K1", "salutation": None, "title": None, "firstName": "Erika", "lastName": "Muster",
           "company": None, "email": "erika@example.org", "telephone": None, "mobile": None, "street": None,
           "postalCode": None, "city": None, "country": None, "bankAccounts": [], "portalUser": True}


async def test_authenticates_once_and_caches_the_token(sim: httpx.AsyncClient) -> None:
    async with client_for(sim) as client:
        job = await client.wait_for_job(await client.start_import({"contacts": [CONTACT]}))
        await client.wait_for_job(await client.start_import({"contacts": [CONTACT]}))
    assert job.completed and [(r.id, r.status) for r in job.results.items] == [("K1", "created")]
    assert client.counters.requests["authenticate"] == 1
    assert client.counters.requests["import"] == 2
    assert client.counters.requests["job"] >= 2


async def test_reauthenticates_after_tokens_expire(sim: httpx.AsyncClient) -> None:
    async with client_for(sim) as client:
        await client.authenticate()
        (await sim.post("/_sim/faults", json={"expire_tokens": True})).raise_for_status()
        job = await client.wait_for_job(await client.start_import({"contacts": [CONTACT]}))
    assert job.completed
    assert client.counters.reauthentications == 1
    assert client.counters.requests["authenticate"] == 2


async def test_503_is_retried_then_succeeds(sim: httpx.AsyncClient) -> None:
    await sim.post("/_sim/faults", json={"status": 503, "count": 2, "path": "/import"})
    sleeps = Sleeps()
    async with client_for(sim, sleeps) as client:
        job = await client.wait_for_job(await client.start_import({"contacts": [CONTACT]}))
    assert job.completed and job.results.items[0].status == "created"
    assert client.counters.retries == 2
    assert client.counters.requests["import"] == 3
    state = (await sim.get("/_sim/state")).json()
    assert list(state["contacts"]) == ["K1"]


async def test_casavi_down_longer_than_max_retries_still_delivers(sim: httpx.AsyncClient) -> None:
    await sim.post("/_sim/faults", json={"status": 502, "count": 6, "path": "/import"})  # max_retries is 3
    async with client_for(sim) as client:
        job = await client.wait_for_job(await client.start_import({"contacts": [CONTACT]}))
    assert job.completed and client.counters.retries == 6


async def test_429_from_the_simulator_is_retried(sim: httpx.AsyncClient) -> None:
    await sim.post("/_sim/faults", json={"status": 429, "count": 1, "path": "/import"})
    async with client_for(sim) as client:
        await client.start_import({"contacts": [CONTACT]})
    assert client.counters.rate_limited == 1


async def test_failed_item_is_reported(sim: httpx.AsyncClient) -> None:
    unit = {"id": "U1", "number": "1"}
    async with client_for(sim) as client:
        job = await client.wait_for_job(await client.start_import(
            {"properties": [{"id": "P-missing", "units": [unit]}]}))
    failed = [r for r in job.results.items if r.status == "failed"]
    assert failed and failed[0].error_code == "MISSING_REFERENCE"


async def test_bad_request_is_fail_batch_without_body_text(sim: httpx.AsyncClient) -> None:
    async with client_for(sim) as client:
        with pytest.raises(CasaviError) as caught:
            await client.start_import({"contacts": [{"id": ""}]})
    assert caught.value.action is Action.FAIL_BATCH and caught.value.status == 400
    assert caught.value.code == "invalid_import"
    assert client.counters.retries == 0


# --- scripted transport: exact headers and timings --------------------------------------------

def scripted(*answers: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/authenticate":
            expires = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
            return httpx.Response(200, json={"token": f"t{len(seen)}", "expiresAt": expires})
        return queue.pop(0)(request)

    return httpx.MockTransport(handler), seen


async def test_retry_after_is_honoured() -> None:
    transport, seen = scripted(lambda r: httpx.Response(429, headers={"Retry-After": "7"}),
                               lambda r: httpx.Response(200, json={"jobId": "j1"}))
    sleeps = Sleeps()
    async with CasaviClient(settings(), transport=transport, sleep=sleeps) as client:
        assert await client.start_import({}) == "j1"
    assert sleeps.waits == [7.0]
    assert client.counters.rate_limited == 1


async def test_second_401_in_a_row_is_retried_not_looped() -> None:
    transport, seen = scripted(lambda r: httpx.Response(401), lambda r: httpx.Response(401),
                               lambda r: httpx.Response(200, json={"jobId": "j1"}))
    async with CasaviClient(settings(), transport=transport, sleep=Sleeps()) as client:
        assert await client.start_import({}) == "j1"
    assert client.counters.reauthentications == 1 and client.counters.retries == 1
    assert [r.headers.get("token") for r in seen if r.url.path == "/import"] == ["t1", "t3", "t3"]


async def test_token_near_expiry_is_renewed_before_use() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/authenticate":
            return httpx.Response(200, json={"token": "t", "expiresAt": datetime.now(timezone.utc).isoformat()})
        return httpx.Response(200, json={"jobId": "j"})

    async with CasaviClient(settings(), transport=httpx.MockTransport(handler), sleep=Sleeps()) as client:
        await client.start_import({})
        await client.start_import({})
    assert calls == ["/authenticate", "/import", "/authenticate", "/import"]


async def test_secrets_and_tokens_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    transport, _ = scripted(lambda r: httpx.Response(503), lambda r: httpx.Response(400, json={"error": "x1"}))
    caplog.set_level("DEBUG")
    async with CasaviClient(settings(), transport=transport, sleep=Sleeps()) as client:
        with pytest.raises(CasaviError):
            await client.start_import({"contacts": [CONTACT]})
    text = caplog.text
    for secret in ("demo-secret", "demo-key", "t1", "Erika", "erika@example.org"):
        assert secret not in text


async def test_pacing_counts_every_request() -> None:
    transport, _ = scripted(*[lambda r: httpx.Response(200, json={"jobId": "j"})] * 5)
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async with CasaviClient(settings(requests_per_minute=60), transport=transport, sleep=sleep,
                            clock=lambda: now[0]) as client:
        for _ in range(5):
            await client.start_import({})
    # 6 requests (auth + 5) at one a second: the bucket starts with one, so 5 s pass.
    assert now[0] == pytest.approx(5.0)
