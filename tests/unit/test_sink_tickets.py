"""Tickets, posts, comments and attachments through the sink into the casavi simulator
(``import_contract`` rules 12–15; R17–R20)."""

from __future__ import annotations

import hashlib
from typing import Any

from streams.casavi.models import Attachment, Comment, ContentRef, Post, Staff, Ticket
from streams.commands.model import CasaviCommand
from streams.sink.apply import apply_batch
from streams.sink.content import MemoryContent
from tests.unit.casavi_commands import contact, prop, unit
from tests.unit.test_sink_apply import Sim, sim, sourced  # noqa: F401 - the fixture

PHOTO = b"\x89PNG photo of the radiator"


def ticket(ref: str = "P1-T1", **fields: Any) -> CasaviCommand:
    values: dict[str, Any] = dict(number=1, title="Heizung kalt", description="Bad", type="Schaden", property_id="P1",
                                  unit_id="U1", status="OPEN", status_text="Neu", contact_id="K1",
                                  shared_with_contacts=["K1"], shared_with_property=False, assigned_to_id=None,
                                  reported_at=None, custom_fields={"priority": "Hoch"})
    values.update(fields)
    return CasaviCommand.upsert("ticket", ref, Ticket(id=ref, **values).wire())


def comment(ref: str, text: str, ticket_ref: str = "P1-T1") -> CasaviCommand:
    return CasaviCommand.upsert("comment", ref, Comment(id=ref, text=text, fallback_to_account=True).wire(),
                                parent_ids=(ticket_ref,))


def attachment(ref: str, data: bytes = PHOTO, ticket_ref: str = "P1-T1") -> CasaviCommand:
    doc = Attachment(id=ref, name="Foto.png", content_type="image/png",
                     content_ref=ContentRef(key="document:9", sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    return CasaviCommand.upsert("attachment", ref, doc.wire(), parent_ids=(ticket_ref,))


def staff(ref: str = "MKS") -> CasaviCommand:
    return CasaviCommand.upsert("staff", ref, Staff(id=ref, first_name="Maria", last_name="Kaiser", email=None,
                                                    role="MANAGER").wire())


def house() -> list[CasaviCommand]:
    return [prop("P1"), unit("U1", "P1"), contact("K1")]


async def test_r17_ticket_created_updated_and_closed_never_deleted(sim: Sim) -> None:
    result = await apply_batch(sim.client, sourced(ticket(), *house()))
    assert not result.failed
    held = (await sim.state())["tickets"]["P1-T1"]
    assert (held["status"], held["sharedWithContacts"], held["customFields"]) == ("OPEN", ["K1"], {"priority": "Hoch"})
    await apply_batch(sim.client, sourced(ticket(status="INPROGRESS", status_text="In Arbeit"), start=4))
    assert (await sim.state())["tickets"]["P1-T1"]["status"] == "INPROGRESS"
    for start in (5, 6):  # closing twice is harmless
        result = await apply_batch(sim.client, sourced(CasaviCommand.delete("ticket", "P1-T1"), start=start))
        assert not result.failed and len(result.applied) == 1
    held = (await sim.state())["tickets"]["P1-T1"]
    assert held["status"] == "CLOSED" and held["closedAt"] and held["title"] == "Heizung kalt"
    await apply_batch(sim.client, sourced(ticket(), start=7))  # reopened in the ERP
    assert (await sim.state())["tickets"]["P1-T1"]["status"] == "OPEN"


async def test_r18_pinboard_post_created_and_removed_when_closed(sim: Sim) -> None:
    post = CasaviCommand.upsert("post", "P1-T2", Post(id="P1-T2", title="Wasser", text="Freitag kein Wasser",
                                                     author_id="MKS", property_id="P1", allow_comments=False).wire())
    result = await apply_batch(sim.client, sourced(post, staff(), prop("P1")))
    assert not result.failed
    assert (await sim.state())["posts"]["P1-T2"]["text"] == "Freitag kein Wasser"
    result = await apply_batch(sim.client, sourced(CasaviCommand.delete("post", "P1-T2"), start=3))
    assert not result.failed and (await sim.state())["posts"] == {}
    lonely = CasaviCommand.upsert("post", "P1-T3", {**post.document, "id": "P1-T3", "authorId": "NOBODY"})
    result = await apply_batch(sim.client, sourced(lonely, start=4))
    assert [f.error_code for f in result.failed] == ["MISSING_REFERENCE"]


async def test_r19_comments_created_updated_hidden_and_kept_with_a_closed_ticket(sim: Sim) -> None:
    result = await apply_batch(sim.client, sourced(comment("P1-T1-N1", "Monteur kommt"), ticket(), *house()))
    assert not result.failed
    await apply_batch(sim.client, sourced(comment("P1-T1-N1", "Monteur kommt Dienstag"), start=5))
    held = (await sim.state())["comments"]["P1-T1-N1"]
    assert (held["text"], held["isInternal"], held["ticketId"]) == ("Monteur kommt Dienstag", False, "P1-T1")
    await apply_batch(sim.client, sourced(CasaviCommand.delete("comment", "P1-T1-N1", ("P1-T1",)), start=6))
    held = (await sim.state())["comments"]["P1-T1-N1"]
    assert held["isInternal"] is True and "Monteur" not in held["text"]  # taken back from the tenants
    await apply_batch(sim.client, sourced(comment("P1-T1-N2", "Erledigt am Montag"), start=7))
    result = await apply_batch(sim.client, sourced(CasaviCommand.delete("comment", "P1-T1-N2", ("P1-T1",)),
                                                   CasaviCommand.delete("ticket", "P1-T1"), start=8))
    assert not result.failed and len(result.applied) == 2
    state = await sim.state()
    assert state["tickets"]["P1-T1"]["status"] == "CLOSED"
    assert state["comments"]["P1-T1-N2"]["isInternal"] is False  # stays with the closed ticket


async def test_r20_comment_of_a_ticket_casavi_lacks_is_refused(sim: Sim) -> None:
    result = await apply_batch(sim.client, sourced(comment("P9-T9-N1", "x", ticket_ref="P9-T9")))
    assert [f.error_code for f in result.failed] == ["MISSING_REFERENCE"]
    result = await apply_batch(sim.client, sourced(ticket(property_id="NOWHERE", unit_id=None), start=1))
    assert [f.error_code for f in result.failed] == ["MISSING_REFERENCE"]


async def test_r17_attachment_uploaded_once_through_a_comment(sim: Sim) -> None:
    content = MemoryContent({"document:9": PHOTO})
    batch = sourced(attachment("P1-T1-D9-ab"), ticket(), *house())
    assert not (await apply_batch(sim.client, batch, content)).failed
    state = await sim.state()
    held = state["comments"]["P1-T1-D9-ab"]
    (file_id,) = held["attachments"]
    assert state["files"][str(file_id)]["contentSha256"] == hashlib.sha256(PHOTO).hexdigest()
    assert held["text"] == "Foto.png" and content.reads == 1
    assert not (await apply_batch(sim.client, sourced(attachment("P1-T1-D9-ab"), start=5), content)).failed
    assert content.reads == 1 and len((await sim.state())["files"]) == 1  # sent again: not uploaded again
    missing = await apply_batch(sim.client, sourced(attachment("P1-T1-D9-cd", b"other"), start=6), content)
    assert [f.error_code for f in missing.failed] == ["CONTENT_MISSING"]


async def test_r17_a_new_ticket_comment_and_attachment_cost_one_call_each(sim: Sim) -> None:
    assert not (await apply_batch(sim.client, sourced(*house()))).failed
    before = dict(sim.client.counters.requests)
    new = [c.model_copy(update={"reason": "upsert new"})
           for c in (ticket(), comment("P1-T1-N1", "Monteur kommt"), attachment("P1-T1-D9-ab"))]
    result = await apply_batch(sim.client, sourced(*new, start=3), MemoryContent({"document:9": PHOTO}))
    assert not result.failed
    calls = {k: v - before.get(k, 0) for k, v in sim.client.counters.requests.items() if v != before.get(k, 0)}
    assert calls == {"ticket": 1, "comment": 2, "file": 1}  # the comment and the attachment's comment
    again = await apply_batch(sim.client, sourced(*new, start=6), MemoryContent({"document:9": PHOTO}))
    assert not again.failed  # sent again as new (a replay): casavi has them, they are updated
    assert (await sim.state())["tickets"]["P1-T1"]["status"] == "OPEN"
