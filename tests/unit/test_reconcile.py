"""Reconcile: casavi read back through its GET endpoints (the simulator), compared with what the
bridge expects, and the repairs derived from the drift."""

from __future__ import annotations

import json
from typing import Any

from streams.commands.model import CasaviCommand
from streams.projection.model import EmittedEntry
from streams.reconcile.compare import compare, ownership
from streams.reconcile.observe import read_casavi
from streams.reconcile.run import GONE, repair_records
from streams.settings import BridgeSettings
from streams.sink.apply import apply_batch
from tests.unit.casavi_commands import contact, contract, prop, unit
from tests.unit.test_sink_apply import Sim, sim, sourced  # noqa: F401 - the in-process casavi simulator

OWNED_ALL = ownership(None, "-", ".*")


def entry(c: CasaviCommand, root: str = "R") -> EmittedEntry:
    return EmittedEntry(c.entity, c.reference_id, c.content_hash, c.parent_ids, root)


async def load(s: Sim, *commands: CasaviCommand) -> dict[str, EmittedEntry]:
    result = await apply_batch(s.client, sourced(*commands))
    assert not result.failed
    return {c.slot: entry(c) for c in commands}


async def test_casavi_equal_to_the_expectation_has_no_drift(sim: Sim) -> None:  # noqa: F811
    commands = [contact("K1"), prop("1-P1"), unit("1-P1-U1", "1-P1"), contract("1-P1-U1-01", "1-P1", "1-P1-U1", "K1")]
    expected = await load(sim, *commands)
    view = await read_casavi(sim.client.read)
    assert set(view.entities) == set(expected) and view.requests == 4  # properties, units, contacts x2
    drift = compare(expected, view, OWNED_ALL)
    assert drift.unchanged == 4 and not drift.repairs


async def test_missing_different_and_extra_are_found_and_repaired(sim: Sim) -> None:  # noqa: F811
    k1, k2, p1 = contact("K1"), contact("K2"), prop("1-P1")
    expected = await load(sim, k1, k2, p1)
    # drift made directly in casavi: K2 changed, P1 gone, an unknown contact and property added
    await load(sim, contact("K2", first_name="Changed"), contact("K9"), prop("2-P9"))
    await apply_batch(sim.client, sourced(CasaviCommand.delete("property", "1-P1")))
    view = await read_casavi(sim.client.read)
    drift = compare(expected, view, ownership([2], "-", "K.*"))
    assert drift.missing == ["property:1-P1"] and drift.different == ["contact:K2"]
    assert sorted(o.slot for o in drift.extra) == ["contact:K9", "property:2-P9"]
    # a property of a Mandant the bridge does not sync is not its business
    assert [o.slot for o in compare(expected, view, ownership([1], "-", "K.*")).extra] == ["contact:K9"]

    control, commands = repair_records(drift, BridgeSettings())
    (record,) = [json.loads(value) for key, value in control if key == b"redrive"]
    assert record["kind"] == "redrive" and sorted(record["slots"]) == ["contact:K2", "property:1-P1"]
    assert [(c.op, c.slot, c.reason) for c in commands] == [("DELETE", "contact:K9", GONE), ("DELETE", "property:2-P9", GONE)]
    await apply_batch(sim.client, sourced(*commands))
    after = await read_casavi(sim.client.read)
    assert {"contact:K9", "property:2-P9"}.isdisjoint(after.entities)


async def test_r11_a_contact_casavi_keeps_loses_portal_access_in_the_same_reconcile() -> None:
    """A casavi that ignores ``"delete": true`` on master data (the API text documents it for
    documents only): the extra contact's delete archives it with portal access revoked first,
    so access ends at once; an extra property stays and the next reconcile reports it as
    persisting."""
    from contextlib import AsyncExitStack

    import httpx

    from streams.settings import CasaviSettings
    from streams.simulator.app import SimulatorConfig, create_app
    from streams.sink.client import CasaviClient
    from tests.unit.test_sink_apply import BASE, Backoff, _no_sleep

    app = create_app(SimulatorConfig(db_path=":memory:", honour_deletes=False))
    s = CasaviSettings(requests_per_minute=600_000, job_poll_interval_s=0.01, job_timeout_s=10)
    s = s.model_copy(update={"test": s.test.model_copy(update={"url": BASE})})
    async with AsyncExitStack() as stack:
        admin = await stack.enter_async_context(httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                  base_url=BASE))
        client = await stack.enter_async_context(CasaviClient(
            s, transport=httpx.ASGITransport(app=app), sleep=_no_sleep,
            backoff=Backoff(base_s=0.01, cap_s=0.02, max_retries=2, exhausted_s=0.02)))
        await apply_batch(client, sourced(contact("K7"), prop("1-P7")))
        drift = compare({}, await read_casavi(client.read), OWNED_ALL)
        assert [o.slot for o in drift.revoke] == ["contact:K7"] and not drift.persisting
        _, commands = repair_records(drift, BridgeSettings())
        assert [(c.op, c.slot) for c in commands] == [("DELETE", "contact:K7"), ("DELETE", "property:1-P7")]
        result = await apply_batch(client, sourced(*commands))
        assert not result.failed
        state = (await admin.get("/_sim/state")).json()
        k7 = state["contacts"]["K7"]  # the delete was ignored ...
        assert k7["portalUser"] is False and k7["archived"] is True  # ... and the access ended anyway
        assert "1-P7" in state["properties"]
        again = compare({}, await read_casavi(client.read), OWNED_ALL,
                        previously_extra=frozenset(o.slot for o in drift.extra))
        assert [o.slot for o in again.persisting] == ["property:1-P7"]  # archived contacts are not listed


async def test_failed_slots_count_as_expected_and_are_redriven(sim: Sim) -> None:  # noqa: F811
    k1 = contact("K1")
    expected = await load(sim, k1)
    expected["contact:K1"] = EmittedEntry("contact", "K1", "failed:INVALID_FIELD", (), "C:1")
    drift = compare(expected, await read_casavi(sim.client.read), OWNED_ALL)
    assert drift.different == ["contact:K1"]


def test_changelog_keys_as_faust_writes_them_name_the_slot() -> None:
    from streams.reconcile.expected import slot_of_key

    assert slot_of_key(b'"contact:E803-2"') == "contact:E803-2"  # str table keys are JSON-encoded
    assert slot_of_key(b"contact:E803-2") == "contact:E803-2"
    assert slot_of_key('"unit:7001-E1-0002"') == "unit:7001-E1-0002"
