"""The ERP reference schema as data: every table the bridge reads, its columns and key.

This mirrors ``erp-reference-schema.md`` exactly (schema ``erp``). The DDL under
``connect/`` and the decoder both check themselves against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["int", "text", "varchar", "char", "numeric", "date", "timestamptz", "boolean", "bytes"]

ERP_SCHEMA = "erp"


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _t(name: str, pk: tuple[str, ...], *cols: tuple[str, ColumnKind]) -> Table:
    columns = tuple(Column(n, k, nullable=n not in pk) for n, k in cols)
    columns += (Column("updated_at", "timestamptz"),)
    return Table(name, columns, pk)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _t("mandant", ("mandant_no",), ("mandant_no", "int"), ("name", "text")),
        _t(
            "property",
            ("property_id",),
            ("property_id", "int"), ("mandant_no", "int"), ("property_no", "varchar"), ("name", "text"),
            ("property_group", "text"), ("street", "text"), ("postal_code", "varchar"), ("city", "text"),
            ("country", "text"), ("management_start", "date"), ("management_end", "date"), ("team_id", "int"),
        ),
        _t(
            "building",
            ("building_id",),
            ("building_id", "int"), ("property_id", "int"), ("street", "text"), ("house_no", "varchar"),
            ("postal_code", "varchar"), ("city", "text"),
        ),
        _t(
            "unit",
            ("unit_id",),
            ("unit_id", "int"), ("property_id", "int"), ("building_id", "int"), ("unit_no", "varchar"),
            ("name", "text"), ("usage", "varchar"), ("area", "numeric"), ("floor", "varchar"),
            ("rooms", "numeric"), ("valid_from", "date"), ("valid_to", "date"), ("is_phantom", "boolean"),
        ),
        _t("person_type", ("person_type_code",), ("person_type_code", "varchar"), ("name", "text")),
        _t(
            "person",
            ("person_id",),
            ("person_id", "int"), ("person_no", "varchar"), ("person_type_code", "varchar"),
            ("salutation", "text"), ("title", "text"), ("first_name", "text"), ("last_name", "text"),
            ("company", "text"), ("email", "text"), ("phone", "text"), ("mobile", "text"), ("street", "text"),
            ("postal_code", "varchar"), ("city", "text"), ("country", "text"), ("iban", "varchar"),
            ("bic", "varchar"), ("account_holder", "text"), ("anonymized_at", "timestamptz"),
        ),
        _t(
            "contract",
            ("contract_id",),
            ("contract_id", "int"), ("contract_no", "varchar"), ("contract_type", "varchar"),
            ("property_id", "int"), ("unit_id", "int"), ("person_id", "int"), ("start_date", "date"),
            ("end_date", "date"), ("rent_amount", "numeric"), ("deposit_amount", "numeric"),
        ),
        _t("contract_party", ("contract_id", "person_id"),
           ("contract_id", "int"), ("person_id", "int"), ("role", "varchar")),
        _t("property_owner", ("property_id", "person_id"), ("property_id", "int"), ("person_id", "int")),
        _t("caretaker", ("property_id", "person_id"), ("property_id", "int"), ("person_id", "int")),
        _t(
            "staff_user",
            ("user_id",),
            ("user_id", "int"), ("user_no", "char"), ("first_name", "text"), ("last_name", "text"),
            ("email", "text"), ("phone", "text"), ("active", "boolean"),
        ),
        _t("team", ("team_id",), ("team_id", "int"), ("name", "text")),
        _t("team_member", ("team_id", "user_id"), ("team_id", "int"), ("user_id", "int")),
        _t("property_user", ("property_id", "user_id"),
           ("property_id", "int"), ("user_id", "int"), ("is_responsible", "boolean")),
        _t("document_type", ("document_type_code",),
           ("document_type_code", "varchar"), ("name", "text"), ("document_class", "text")),
        _t(
            "document",
            ("document_id",),
            ("document_id", "int"), ("property_id", "int"), ("unit_id", "int"), ("contract_id", "int"),
            ("person_id", "int"), ("document_type_code", "varchar"), ("name", "text"), ("mime_type", "text"),
            ("created_at", "timestamptz"), ("released", "boolean"), ("content", "bytes"),
        ),
        _t("ticket_type", ("ticket_type_code",),
           ("ticket_type_code", "varchar"), ("name", "text"), ("portal_mode", "varchar")),
        _t("ticket_status", ("status_code",),
           ("status_code", "varchar"), ("name", "text"), ("status_kind", "varchar")),
        _t("ticket_priority", ("priority_code",),
           ("priority_code", "varchar"), ("name", "text"), ("rank", "int")),
        _t(
            "ticket",
            ("ticket_id",),
            ("ticket_id", "int"), ("ticket_no", "int"), ("ticket_type_code", "varchar"), ("subject", "text"),
            ("description", "text"), ("hint1", "text"), ("hint2", "text"), ("reporter_person_id", "int"),
            ("trade", "text"), ("reported_at", "timestamptz"), ("property_id", "int"), ("unit_id", "int"),
            ("technical_object", "text"), ("responsible_user_id", "int"), ("responsible_team_id", "int"),
            ("due_from", "date"), ("due_to", "date"), ("status_code", "varchar"), ("priority_code", "varchar"),
            ("origin", "varchar"),
        ),
        _t(
            "ticket_note",
            ("note_id",),
            ("note_id", "int"), ("ticket_id", "int"), ("author", "text"), ("created_at", "timestamptz"),
            ("content", "text"), ("is_internal", "boolean"),
        ),
        _t("ticket_document", ("ticket_id", "document_id"), ("ticket_id", "int"), ("document_id", "int")),
    )
}

# Columns that carry personal data: never logged, never written to a DLQ or report in clear text.
PERSONAL_COLUMNS: frozenset[str] = frozenset(
    {
        "salutation", "title", "first_name", "last_name", "company", "email", "phone", "mobile", "street",
        "postal_code", "city", "iban", "bic", "account_holder", "house_no", "content", "description",
        "hint1", "hint2", "subject", "author",
    }
)
