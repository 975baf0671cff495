"""Documents through the sink into the casavi simulator (``import_contract`` rule 11, R16): the
content read by key when the document is sent, never carried by the command."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from streams.casavi.models import CONTENT_REF, ContentRef, Document
from streams.commands.model import CasaviCommand
from streams.settings import CasaviSettings
from streams.simulator.app import SimulatorConfig, create_app
from streams.sink.apply import apply_batch
from streams.sink.client import FIRST_JOB_POLL_S, CasaviClient
from streams.sink.content import MemoryContent
from streams.sink.policy import Backoff
from tests.unit.casavi_commands import contact, contract, prop, unit
from tests.unit.test_sink_apply import BASE, Sim, _no_sleep, sim, sourced  # noqa: F401 - the fixture

PDF = b"%PDF-1.4\n% Hausordnung\n%%EOF\n"


def document(ref: str, share: dict[str, str], content: bytes = PDF, key: str | None = None) -> CasaviCommand:
    doc: dict[str, Any] = Document(id=ref, title="Hausordnung", name="Hausordnung.pdf", type=["Allgemein"],
                                   published_at=None, content_type="application/pdf", shared_with=[share]).wire()
    for field in ("content", "location", "resource"):
        del doc[field]
    doc[CONTENT_REF] = ContentRef(key=key or f"document:{ref}", sha256=hashlib.sha256(content).hexdigest(),
                                  size=len(content)).wire()
    return CasaviCommand.upsert("document", ref, doc)


async def test_r16_document_reaches_casavi_with_its_content_read_by_key(sim: Sim) -> None:
    content = MemoryContent({"document:D1": PDF})
    batch = sourced(document("D1", {"unitId": "U1"}), unit("U1", "P1"), prop("P1"))
    result = await apply_batch(sim.client, batch, content)
    assert not result.failed and len(result.applied) == 3 and content.reads == 1
    stored = (await sim.state())["documents"]["D1"]
    assert stored["contentSha256"] == hashlib.sha256(PDF).hexdigest() and stored["contentSize"] == len(PDF)
    assert stored["sharedWith"] == [{"unitId": "U1"}] and CONTENT_REF not in stored
    token = (await sim.admin.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})).json()["token"]
    got = (await sim.admin.get("/documents/D1", headers={"token": token})).json()
    assert got["title"] == "Hausordnung" and "content" not in {k for k, v in got.items() if v is not None}


async def test_r16_withdrawn_document_deleted_and_the_delete_is_idempotent(sim: Sim) -> None:
    content = MemoryContent({"document:D1": PDF})
    await apply_batch(sim.client, sourced(prop("P1"), document("D1", {"propertyId": "P1"})), content)
    for start in (2, 3):
        result = await apply_batch(sim.client, sourced(CasaviCommand.delete("document", "D1"), start=start), content)
        assert not result.failed and len(result.applied) == 1
    assert (await sim.state())["documents"] == {}


async def test_r20_documents_after_what_they_are_shared_with_and_deleted_before_it(sim: Sim) -> None:
    content = MemoryContent({"document:D1": PDF, "document:D2": PDF})
    batch = sourced(document("D1", {"contractId": "C1"}), document("D2", {"contactId": "K1"}),
                    contract("C1", "P1", "U1", "K1"), contact("K1"), unit("U1", "P1"), prop("P1"))
    result = await apply_batch(sim.client, batch, content)
    assert not result.failed
    assert set((await sim.state())["documents"]) == {"D1", "D2"}
    gone = sourced(CasaviCommand.delete("contract", "C1", ("P1", "U1")), CasaviCommand.delete("contact", "K1"),
                   CasaviCommand.delete("document", "D1"), CasaviCommand.delete("document", "D2"), start=6)
    result = await apply_batch(sim.client, gone, content)
    assert not result.failed and len(result.applied) == 4
    state = await sim.state()
    assert state["documents"] == {} and state["contracts"] == {} and state["contacts"] == {}


async def test_r16_content_not_found_is_a_failure_and_nothing_is_sent(sim: Sim) -> None:
    stale = MemoryContent({"document:D1": PDF + b"changed"})  # the content was replaced since
    result = await apply_batch(sim.client, sourced(prop("P1"), document("D1", {"propertyId": "P1"})), stale)
    assert [(f.error_code, f.source.command.reference_id) for f in result.failed] == [("CONTENT_MISSING", "D1")]
    assert "changed" not in result.failed[0].reason
    assert (await sim.state())["documents"] == {}


async def test_r20_document_shared_with_something_casavi_lacks_is_refused(sim: Sim) -> None:
    result = await apply_batch(sim.client, sourced(document("D1", {"contactId": "NOBODY"})),
                               MemoryContent({"document:D1": PDF}))
    assert [f.error_code for f in result.failed] == ["MISSING_REFERENCE"]


async def test_r16_deleting_what_a_document_is_shared_with_deletes_it(sim: Sim) -> None:
    content = MemoryContent({"document:D1": PDF})
    await apply_batch(sim.client, sourced(prop("P1"), unit("U1", "P1"), document("D1", {"unitId": "U1"})), content)
    await apply_batch(sim.client, sourced(CasaviCommand.delete("unit", "U1", ("P1",)), start=3))
    assert (await sim.state())["documents"] == {}


@pytest.fixture
async def small_sim() -> AsyncIterator[Sim]:
    """A simulator that takes at most 64 bytes of document content."""
    app = create_app(SimulatorConfig(db_path=":memory:", max_content_bytes=64))
    s = CasaviSettings(requests_per_minute=600_000, job_poll_interval_s=0.01, job_timeout_s=10)
    s = s.model_copy(update={"test": s.test.model_copy(update={"url": BASE})})
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as admin,
                CasaviClient(s, transport=httpx.ASGITransport(app=app), sleep=_no_sleep,
                             backoff=Backoff(base_s=0.01, cap_s=0.02, max_retries=2, exhausted_s=0.02)) as client):
        yield Sim(admin, client)


async def test_r16_casavi_refuses_content_over_its_limit_and_keeps_nothing_cut(small_sim: Sim) -> None:
    big = b"x" * 65
    result = await apply_batch(small_sim.client, sourced(prop("P1"), document("D1", {"propertyId": "P1"}, big)),
                               MemoryContent({"document:D1": big}))
    assert [f.error_code for f in result.failed] == ["CONTENT_TOO_LARGE"]
    assert "xxx" not in result.failed[0].reason
    assert (await small_sim.state())["documents"] == {}
    fits = b"x" * 64
    result = await apply_batch(small_sim.client, sourced(document("D1", {"propertyId": "P1"}, fits), start=2),
                               MemoryContent({"document:D1": fits}))
    assert not result.failed
    assert (await small_sim.state())["documents"]["D1"]["contentSize"] == 64


async def test_r16_simulator_checks_the_documents_request(sim: Sim) -> None:
    token = (await sim.admin.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})).json()["token"]
    headers = {"token": token}
    assert (await sim.admin.post("/documents", json=[], headers=headers)).status_code == 400
    assert (await sim.admin.post("/documents", json={"title": "x"}, headers=headers)).status_code == 400
    await sim.admin.post("/import", json={"properties": [prop("P1").document]}, headers=headers)
    cases = {
        "no content": {"id": "D9", "title": "T", "sharedWith": [{"propertyId": "P1"}], "type": []},
        "not base64": {"id": "D9", "title": "T", "sharedWith": [{"propertyId": "P1"}], "type": [], "content": "%%%"},
        "two targets": {"id": "D9", "title": "T", "sharedWith": [{"propertyId": "P1", "unitId": "U1"}], "type": [],
                        "content": base64.b64encode(PDF).decode()},
        "unknown field": {"id": "D9", "title": "T", "sharedWith": [], "type": [], "content": "", "colour": "red"},
    }
    for what, body in cases.items():
        job_id = (await sim.admin.post("/documents", json=body, headers=headers)).json()["jobId"]
        job = (await sim.client.wait_for_job(job_id)).model_dump(by_alias=True)
        items = job["results"]["items"]
        assert [(i["status"], i["errorCode"]) for i in items] == [("failed", "INVALID_FIELD")], what


def test_r16_content_index_keeps_the_latest_offset_per_key_and_forgets_deleted_content(tmp_path: Any) -> None:
    from streams.sink.content import ContentIndex

    index = ContentIndex(tmp_path / "index.sqlite")
    index.record(0, [("document:1", 0, False), ("document:2", 1, False), ("document:1", 2, False)], 3)
    index.record(0, [("document:2", 3, True)], 4)
    assert index.where("document:1") == (0, 2) and index.where("document:2") is None
    assert index.positions() == {0: 4} and len(index) == 1
    index.close()
    again = ContentIndex(tmp_path / "index.sqlite")  # kept on disk: a restarted sink goes on from there
    assert again.where("document:1") == (0, 2) and again.positions() == {0: 4}
    again.close()


async def test_r16_the_jobs_of_many_documents_are_read_without_a_wait_for_each() -> None:
    # a bulk load sends thousands of documents, one request each: only the first job is given
    # its moment before it is read; the later ones were created while the others were sent
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await _no_sleep(seconds)

    app = create_app(SimulatorConfig(db_path=":memory:"))
    s = CasaviSettings(requests_per_minute=600_000, job_poll_interval_s=0.5, job_timeout_s=10)
    s = s.model_copy(update={"test": s.test.model_copy(update={"url": BASE})})
    refs = [f"D{i}" for i in range(20)]
    content = MemoryContent({f"document:{r}": PDF for r in refs})
    async with CasaviClient(s, transport=httpx.ASGITransport(app=app), sleep=sleep) as client:
        await apply_batch(client, sourced(prop("P1")), content)
        slept.clear()
        result = await apply_batch(client, sourced(*(document(r, {"propertyId": "P1"}) for r in refs)), content)
    assert not result.failed and len(result.applied) == len(refs) and result.imports == len(refs)
    assert slept.count(FIRST_JOB_POLL_S) == 1  # the first job's look, not one per document
