"""The ERP mapping file: how an ERP's own tables and columns become the reference schema.

SQL Server CDC captures tables, not views, so Debezium sees the ERP's own table and
column names. A mapping file (YAML) says, per captured source table, which reference
table it feeds and how each reference column is made::

    schema: immo                 # the source database schema Debezium reports
    tables:
      - source: OBJEKT           # the ERP's table
        target: property         # the reference table (erp-reference-schema.md)
        columns:
          property_id: OBJ_ID                     # a plain rename
          country: {const: DE}                    # a constant
          property_no: {column: OBJ_NR}           # the long form of a rename
      - source: EINHEIT
        target: unit
        columns:
          unit_id: {composite: [OBJ_ID, EINH_NR]} # a stable id made of several columns
          usage: {column: NUTZUNG, codes: {W: RESIDENTIAL, G: COMMERCIAL}, default: OTHER}
        skip: {column: STATUS, values: [D]}       # rows the bridge treats as absent

Reference columns not named are NULL. The models here only check the file's shape;
``compile.compile_mapping`` checks it against the reference schema and builds the plans
the decoder runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """How one reference column is made. Exactly one of ``column``, ``composite``, ``const``."""

    column: str | None = Field(default=None, description="the source column")
    composite: list[str] | None = Field(
        default=None, description="source columns whose values together name the row: a stable integer id"
    )
    const: Scalar | None = Field(default=None, description="a constant value")
    codes: dict[str | int | bool, Scalar] | None = Field(
        default=None, description="source code -> reference value (e.g. an ERP's contract type codes)"
    )
    default: Scalar | None = Field(default=None, description="the reference value for a code not in codes")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"column": data}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        given = [n for n, v in (("column", self.column), ("composite", self.composite), ("const", self.const))
                 if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of column, composite, const")
        if self.composite is not None and len(self.composite) < 1:
            raise ValueError("composite needs at least one column")
        if (self.codes is not None or self.default is not None) and self.column is None:
            raise ValueError("codes and default need a column")
        return self

    @property
    def source_columns(self) -> tuple[str, ...]:
        if self.column is not None:
            return (self.column,)
        return tuple(self.composite or ())


class SkipSpec(_Strict):
    """Rows to ignore: a row whose ``column`` holds one of ``values`` is treated as absent."""

    column: str
    values: list[Scalar]


class TableSpec(_Strict):
    source: str = Field(description="the ERP's table, as Debezium names it")
    target: str = Field(description="the reference table it feeds")
    columns: dict[str, ColumnSpec] = Field(default_factory=dict, description="reference column -> how it is made")
    skip: SkipSpec | None = None
    schema_: str | None = Field(default=None, alias="schema", description="source schema, if not the file's")


class MappingFile(_Strict):
    schema_: str = Field(default="erp", alias="schema", description="the source database schema")
    tables: list[TableSpec]
    description: str | None = None
