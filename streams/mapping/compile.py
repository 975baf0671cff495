"""A mapping file checked against the reference schema and compiled for the decoder.

``compile_mapping`` refuses a mapping that names a reference table or column that does
not exist, leaves a required reference column (a key, a number) unmapped, or translates a
code into a value the reference column cannot hold; every message names the mapping
entry (``EINHEIT.NUTZUNG -> unit.usage``), never a row value. What the file cannot tell —
whether the ERP really has the source columns, whether a row's code has a translation —
is checked per event by the decoder: such a row goes to the DLQ naming the entry.

``identity_mapping()`` is the reference schema mapped onto itself (schema ``erp``): the
default, for an ERP whose tables already are the reference schema.
"""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streams.cdc.values import BadValue, kind_converter
from streams.erp.rows import row_fields
from streams.erp.schema import ERP_SCHEMA, TABLES, ColumnKind, Table
from streams.mapping.model import ColumnSpec, MappingFile, TableSpec


class MappingError(ValueError):
    """A mapping that cannot work. The message names the mapping entry, never a value."""


class RowMappingError(ValueError):
    """One row that the mapping cannot translate (e.g. a code without translation)."""


_MISSING: Any = object()


def code_key(value: Any) -> str:
    """The form in which a source code is compared with the mapping's codes: text without
    surrounding blanks (``char(n)`` arrives blank-padded), numbers without trailing zeros."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value).strip()


def stable_id(values: Iterable[Any]) -> int:
    """A positive 62-bit integer that names a row by several source values; the same values
    give the same id in every table, run and process (so foreign keys built the same way
    match)."""
    text = "\x1f".join(code_key(v) for v in values)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 2


@dataclass(frozen=True)
class DerivedColumn:
    """A reference column computed from raw source values after conversion."""

    target: str
    entry: str
    composite: tuple[str, ...] = ()
    column: str | None = None
    codes: Mapping[str, Any] = field(default_factory=dict)
    default: Any = _MISSING
    const: Any = _MISSING

    def value(self, raw: Mapping[str, Any]) -> Any:
        if self.const is not _MISSING:
            return self.const
        if self.composite:
            parts = [raw.get(c) for c in self.composite]
            return None if any(p is None for p in parts) else stable_id(parts)
        assert self.column is not None
        v = raw.get(self.column)
        if v is None:
            return None
        translated = self.codes.get(code_key(v), self.default)
        if translated is _MISSING:
            raise RowMappingError(f"mapping {self.entry}: a code without translation")
        return translated


@dataclass(frozen=True)
class TableMapping:
    """One source table → one reference table."""

    schema: str
    source: str
    target: Table
    renames: Mapping[str, tuple[str, ColumnKind]]  # source column -> (reference column, kind)
    derived: tuple[DerivedColumn, ...] = ()
    raw_columns: frozenset[str] = frozenset()  # source columns the derived columns and skip read
    skip_column: str | None = None
    skip_values: frozenset[str] = frozenset()
    identity: bool = False

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.source}"

    @property
    def source_columns(self) -> frozenset[str]:
        return frozenset(self.renames) | self.raw_columns

    def finish(self, row: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
        """Add the derived columns to a converted row."""
        for d in self.derived:
            row[d.target] = d.value(raw)
        return row

    def map_row(self, source_row: Mapping[str, Any]) -> dict[str, Any] | None:
        """A source row read straight from the ERP database (Python values) as a reference
        row; None when the mapping skips it. Raises ``RowMappingError``."""
        if self.skipped(source_row):
            return None
        row: dict[str, Any] = {}
        for src, (ref, kind) in self.renames.items():
            v = source_row.get(src)
            try:
                row[ref] = None if v is None else kind_converter(kind)(v)
            except BadValue as exc:
                raise RowMappingError(f"mapping {self.name}.{src} -> {self.target.name}.{ref}: {exc}") from None
        return self.finish(row, source_row)

    def skipped(self, raw: Mapping[str, Any]) -> bool:
        if self.skip_column is None:
            return False
        v = raw.get(self.skip_column)
        return v is not None and code_key(v) in self.skip_values


@dataclass(frozen=True)
class CompiledMapping:
    tables: tuple[TableMapping, ...]
    origin: str  # "reference schema" or the file's path, for messages

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {(t.schema.lower(), t.source.lower()): t for t in self.tables})

    def table(self, schema: str | None, source: str) -> TableMapping | None:
        """The mapping of a captured table (names compared case-insensitively, as SQL Server does)."""
        by_name: dict[tuple[str, str], TableMapping] = self._by_name  # type: ignore[attr-defined]
        if schema is not None:
            return by_name.get((schema.lower(), source.lower()))
        matches = [t for (_, src), t in by_name.items() if src == source.lower()]
        return matches[0] if len(matches) == 1 else None

    @property
    def schemas(self) -> frozenset[str]:
        """The source schemas named (lower case)."""
        return frozenset(t.schema.lower() for t in self.tables)

    @property
    def is_identity(self) -> bool:
        return all(t.identity for t in self.tables)

    def targets(self) -> set[str]:
        return {t.target.name for t in self.tables}


def _literal_values(table: str, column: str) -> frozenset[Any] | None:
    """The values a reference column allows when its row model restricts them (``usage``,
    ``contract_type``, …)."""
    info = row_fields(table).get(column)
    if info is None:
        return None
    found: set[Any] = set()

    def walk(tp: Any) -> None:
        if typing.get_origin(tp) is typing.Literal:
            found.update(typing.get_args(tp))
        for arg in typing.get_args(tp):
            walk(arg)

    walk(info.annotation)
    return frozenset(found) or None


def _required(table: str) -> list[str]:
    return [n for n, f in row_fields(table).items() if f.is_required()]


def _target_value(entry: str, table: Table, column: str, kind: ColumnKind, value: Any) -> Any:
    if value is None:
        return None
    try:
        converted = kind_converter(kind)(value)
    except BadValue as exc:
        raise MappingError(f"mapping {entry}: {exc}") from None
    allowed = _literal_values(table.name, column)
    if allowed is not None and converted not in allowed:
        raise MappingError(f"mapping {entry}: {value!r} is not one of {sorted(map(str, allowed))}")
    return converted


def _compile_table(spec: TableSpec, default_schema: str) -> TableMapping:
    schema = spec.schema_ or default_schema
    where = f"{schema}.{spec.source}"
    target = TABLES.get(spec.target)
    if target is None:
        raise MappingError(f"mapping {where} -> {spec.target}: no such reference table")
    kinds = {c.name: c.kind for c in target.columns}
    renames: dict[str, tuple[str, ColumnKind]] = {}
    derived: list[DerivedColumn] = []
    raw: set[str] = set()
    for column, cspec in spec.columns.items():
        entry = f"{spec.source}.{'+'.join(cspec.source_columns) or 'const'} -> {spec.target}.{column}"
        kind = kinds.get(column)
        if kind is None:
            raise MappingError(f"mapping {entry}: no such column in erp.{spec.target}")
        derived_col = _derived(entry, target, column, kind, cspec)
        if derived_col is None:
            assert cspec.column is not None
            if cspec.column in renames:
                raise MappingError(f"mapping {entry}: source column already mapped to "
                                   f"{spec.target}.{renames[cspec.column][0]}")
            renames[cspec.column] = (column, kind)
        else:
            derived.append(derived_col)
            raw.update(cspec.source_columns)
    mapped = set(spec.columns)
    for required in _required(spec.target):
        if required not in mapped:
            raise MappingError(f"mapping {where} -> {spec.target}: required column {spec.target}.{required} "
                               "is not mapped")
    skip_values: frozenset[str] = frozenset()
    if spec.skip is not None:
        raw.add(spec.skip.column)
        skip_values = frozenset(code_key(v) for v in spec.skip.values)
    # a source column both renamed and read raw (e.g. in a composite) is converted twice: fine
    return TableMapping(
        schema=schema, source=spec.source, target=target, renames=renames, derived=tuple(derived),
        raw_columns=frozenset(raw), skip_column=spec.skip.column if spec.skip else None, skip_values=skip_values,
    )


def _derived(entry: str, target: Table, column: str, kind: ColumnKind, spec: ColumnSpec) -> DerivedColumn | None:
    if spec.const is not None:
        return DerivedColumn(column, entry, const=_target_value(entry, target, column, kind, spec.const))
    if spec.composite is not None:
        if kind != "int":
            raise MappingError(f"mapping {entry}: a composite makes an integer id; {target.name}.{column} is {kind}")
        return DerivedColumn(column, entry, composite=tuple(spec.composite))
    if spec.codes is None and spec.default is None:
        return None  # a plain rename: converted straight to the reference kind
    codes = {code_key(k): _target_value(entry, target, column, kind, v) for k, v in (spec.codes or {}).items()}
    default = _MISSING if spec.default is None else _target_value(entry, target, column, kind, spec.default)
    return DerivedColumn(column, entry, column=spec.column, codes=codes, default=default)


def compile_mapping(data: MappingFile, origin: str) -> CompiledMapping:
    tables = tuple(_compile_table(spec, data.schema_) for spec in data.tables)
    seen: set[tuple[str, str]] = set()
    for t in tables:
        key = (t.schema.lower(), t.source.lower())
        if key in seen:
            raise MappingError(f"mapping {t.name}: the source table is mapped twice")
        seen.add(key)
    return CompiledMapping(tables, origin)


def load_mapping(path: Path | None) -> CompiledMapping:
    """The mapping in ``path`` (YAML), or the identity mapping when ``path`` is None."""
    if path is None:
        return identity_mapping()
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"mapping file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MappingError(f"mapping file {path}: not valid YAML{where}") from None
    try:
        data = MappingFile.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise MappingError(f"mapping file {path}: {problems}") from None
    return compile_mapping(data, str(path))


@lru_cache(maxsize=1)
def identity_mapping() -> CompiledMapping:
    tables = tuple(
        TableMapping(schema=ERP_SCHEMA, source=t.name, target=t,
                     renames={c.name: (c.name, c.kind) for c in t.columns}, identity=True)
        for t in TABLES.values()
    )
    return CompiledMapping(tables, "reference schema")
