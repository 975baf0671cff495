"""The ERP mapping: an ERP's own tables and columns onto the reference schema."""

from streams.mapping.compile import (
    CompiledMapping,
    MappingError,
    RowMappingError,
    TableMapping,
    identity_mapping,
    load_mapping,
    stable_id,
)

__all__ = [
    "CompiledMapping",
    "MappingError",
    "RowMappingError",
    "TableMapping",
    "identity_mapping",
    "load_mapping",
    "stable_id",
]
