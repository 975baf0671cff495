"""``GET /_sim/receipts``: one receipt per applied import item, with the request's arrival
time and digests instead of values (what the benchmark matches its changes against)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.simulator import SimulatorConfig
from streams.simulator.receipts import value_digest
from tests.unit.test_simulator_api import Client, connect, contact, estate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


async def test_receipts_name_each_applied_item_with_arrival_time_and_digests() -> None:
    clock = [NOW]
    http, sim = connect(SimulatorConfig(), clock)
    async with http:
        client = Client(http, sim)
        await client.login()
        await client.run_import(estate())
        clock[0] = NOW + timedelta(seconds=5)
        await client.run_import({"contacts": [contact("C1", telephone="+49 30 900001")]})

        everything = (await http.get("/_sim/receipts")).json()["receipts"]
        assert [(r["entity"], r["id"], r["status"]) for r in everything] == [
            ("contact", "C1", "created"), ("property", "P1", "created"), ("unit", "P1-1", "created"),
            ("contract", "K1", "created"), ("contact", "C1", "updated")]
        assert everything[0]["received_at_ms"] == NOW_MS

        (update,) = (await http.get("/_sim/receipts", params={"since_ms": NOW_MS + 1})).json()["receipts"]
        assert update["received_at_ms"] == NOW_MS + 5000
        assert update["applied_at_ms"] >= update["received_at_ms"]
        assert update["fields"]["telephone"] == value_digest("+49 30 900001")
        assert update["digest"] == value_digest(contact("C1", telephone="+49 30 900001"))


async def test_receipts_hold_no_values_and_reset_forgets_them() -> None:
    http, sim = connect(SimulatorConfig())
    async with http:
        client = Client(http, sim)
        await client.login()
        await client.run_import(estate())
        body = (await http.get("/_sim/receipts")).text
        for value in ("Erika", "Mustermann", "erika.mustermann", "Nordweg"):
            assert value not in body
        await http.post("/_sim/reset")
        assert (await http.get("/_sim/receipts")).json() == {"receipts": []}


async def test_receipts_reject_a_malformed_since() -> None:
    http, _ = connect(SimulatorConfig())
    async with http:
        response = await http.get("/_sim/receipts", params={"since_ms": "yesterday"})
        assert response.status_code == 400
