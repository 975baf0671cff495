"""casavi reference ids (R03): the one place they are built.

Every id is made of ERP numbers joined by the configured separator (one of
``- _ . / |``, default ``-``); the same ERP row always yields the same id:

=========  ==================================================  ==============
entity     reference id                                        example (``-``)
=========  ==================================================  ==============
property   ``<mandant_no><sep><property_no>``                  ``1-1000``
address    ``<property id><sep>B<building_id>``                ``1-1000-B17``
unit       ``<property id><sep><unit_no>``                     ``1-1000-0001``
contract   ``<unit id><sep><contract_no>``                     ``1-1000-0001-01``
contact    ``<person_no>`` as it is                            ``P000123``
staff      ``<user_no>`` as it is                              ``MKS``
responsib. ``<property id><sep>S<user_no>``                    ``1-1000-SMKS``
document   ``<property id><sep>D<document_id>``                ``1-1000-D17``
ticket     ``<property id><sep>T<ticket_no>`` (or post)        ``1-1000-T412``
comment    ``<ticket id><sep>N<note_id>``                      ``1-1000-T412-N9``
attachment ``<ticket id><sep>D<document_id><sep><sha256[:8]>``  ``1-1000-T412-D17-9f86d081``
=========  ==================================================  ==============

The ERP numbers are assumed unique in their scope (property number per Mandant, unit
number per property, contract number per unit, person and user number overall); the reference
schema's customer mapping has to keep that. A document or a note has no number of its own: its
ERP key names it, under its property (ticket). An attachment's id names its content too: casavi
cannot change the file of an attachment, so new content is a new attachment.
"""

from __future__ import annotations


def property_ref(mandant_no: int, property_no: str, sep: str) -> str:
    return f"{mandant_no}{sep}{property_no}"


def address_ref(property_id_ref: str, building_id: int, sep: str) -> str:
    return f"{property_id_ref}{sep}B{building_id}"


def unit_ref(property_id_ref: str, unit_no: str, sep: str) -> str:
    return f"{property_id_ref}{sep}{unit_no}"


def contract_ref(unit_id_ref: str, contract_no: str, sep: str) -> str:
    return f"{unit_id_ref}{sep}{contract_no}"


def contact_ref(person_no: str) -> str:
    return person_no


def staff_ref(user_no: str) -> str:
    return user_no


def responsibility_ref(property_id_ref: str, user_no: str, sep: str) -> str:
    return f"{property_id_ref}{sep}S{user_no}"


def document_ref(property_id_ref: str, document_id: int, sep: str) -> str:
    return f"{property_id_ref}{sep}D{document_id}"


def ticket_ref(property_id_ref: str, ticket_no: int, sep: str) -> str:
    return f"{property_id_ref}{sep}T{ticket_no}"


def comment_ref(ticket_id_ref: str, note_id: int, sep: str) -> str:
    return f"{ticket_id_ref}{sep}N{note_id}"


def attachment_ref(ticket_id_ref: str, document_id: int, content_sha256: str, sep: str) -> str:
    return f"{ticket_id_ref}{sep}D{document_id}{sep}{content_sha256[:8]}"
