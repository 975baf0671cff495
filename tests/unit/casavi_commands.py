"""Commands with casavi documents for the sink's tests (invented data)."""

from __future__ import annotations

from typing import Any

from streams.casavi.models import Contact, Contract, ContractParty, Property, Unit
from streams.commands.model import CasaviCommand


def contact(ref: str, **fields: Any) -> CasaviCommand:
    values: dict[str, Any] = dict(
        salutation=None, title=None, first_name="Erika", last_name="Muster", company=None,
        email="erika@example.org", telephone=None, mobile=None, street=None, postal_code=None, city=None,
        country=None,
    )
    values.update(fields)
    return CasaviCommand.upsert("contact", ref, Contact(id=ref, **values).wire())


def prop(ref: str, name: str = "Haus") -> CasaviCommand:
    doc = Property(id=ref, number=ref, name=name, group=None, management_start=None, street=None,
                   postal_code=None, city=None, country=None).wire()
    return CasaviCommand.upsert("property", ref, doc)


def unit(ref: str, prop_ref: str) -> CasaviCommand:
    doc = Unit(id=ref, number=ref, name=None, address=None, purpose=None, area=None, floor=None, rooms=None,
               start_date=None, end_date=None, current_contract_start=None, current_contract_end=None).wire()
    return CasaviCommand.upsert("unit", ref, doc, parent_ids=(prop_ref,))


def contract(ref: str, prop_ref: str, unit_ref: str, *contacts: str) -> CasaviCommand:
    doc = Contract(id=ref, number=ref, type="TENANT",
                   contacts=[ContractParty(contact_id=c, role="MAIN") for c in contacts],
                   start_date=None, end_date=None, rent=None, deposit=None).wire()
    return CasaviCommand.upsert("contract", ref, doc, parent_ids=(prop_ref, unit_ref))
