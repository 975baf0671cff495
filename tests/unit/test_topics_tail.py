"""``bridge topics tail``: commands decoded from Avro, personal fields masked unless asked for."""

from __future__ import annotations

import json

from streams.commands.model import CasaviCommand, encode
from streams.ops.tail import describe
from streams.projection import project_all
from streams.projection.sample import minimal_dataset
from streams.settings import KafkaSettings, SyncSettings
from tests.unit.rules_support import TODAY, state_of

KAFKA = KafkaSettings()
PERSONAL = ("Anna", "Muster", "anna@example.invalid", "+49 30 1", "+49 170 1", "Lindenallee 5", "DE0012345678")


def _command(key: str) -> CasaviCommand:
    d = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY)[key]
    return CasaviCommand.upsert(d.entity, d.reference_id, d.document, d.parent_ids)


def test_contact_commands_are_decoded_with_personal_fields_masked() -> None:
    c = _command("contact:P001")
    item = describe(KAFKA, KAFKA.commands_topic, c.slot.encode(), encode(c))
    text = json.dumps(item, ensure_ascii=False)
    assert item["op"] == "UPSERT" and item["entity"] == "contact" and item["reference_id"] == "P001"
    assert not any(p in text for p in PERSONAL), text
    doc = item["document"]
    assert doc["id"] == "P001" and doc["portalUser"] is True and doc["firstName"] == "***"
    assert doc["company"] is None  # empty stays empty: the shape is kept
    assert doc["bankAccounts"] == [{"iban": "***", "bic": "***", "accountHolder": "***"}]


def test_personal_data_is_shown_when_asked_for() -> None:
    c = _command("contact:P001")
    item = describe(KAFKA, KAFKA.commands_topic, c.slot.encode(), encode(c), show_personal_data=True)
    assert item["document"]["firstName"] == "Anna" and item["document"]["email"] == "anna@example.invalid"


def test_other_entities_and_topics() -> None:
    unit = _command("unit:1-1000-0001")
    assert describe(KAFKA, KAFKA.commands_topic, b"k", encode(unit))["document"] == unit.document
    staff = CasaviCommand.upsert("staff", "MKS", {"id": "MKS", "firstName": "Mia", "lastName": "Kurz",
                                                  "email": None, "role": "MANAGER"})
    doc = describe(KAFKA, KAFKA.commands_topic, b"k", encode(staff))["document"]
    assert doc == {"id": "MKS", "firstName": "***", "lastName": "***", "email": None, "role": "MANAGER"}
    assert describe(KAFKA, KAFKA.commands_topic, b"k", b"\xff\x00")["undecodable"]
    cdc = describe(KAFKA, "erp.erp.person", b"{}", b'{"payload": {"after": {"first_name": "Anna"}}}')
    assert "Anna" not in json.dumps(cdc) and cdc["bytes"] > 0
    receipt = describe(KAFKA, KAFKA.receipts_topic, b"contact:P001", b'{"status": "applied"}')
    assert receipt["value"] == {"status": "applied"}
