"""``bridge mapping check|connector|enable-cdc``: validate an ERP mapping and derive its connector
config and the T-SQL that enables change data capture for its tables."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.mapping.cdcsql import enable_cdc_sql
from streams.mapping.compile import MappingError, load_mapping
from streams.mapping.connector import connector_config
from streams.settings import BridgeSettings


def _mapping_path(args: argparse.Namespace, settings: BridgeSettings) -> Path | None:
    return Path(args.file) if args.file else settings.source.mapping


def check(args: argparse.Namespace, settings: BridgeSettings) -> int:
    """Exit 0 and a summary when the mapping works with the reference schema, else 2 and the entry."""
    path = _mapping_path(args, settings)
    try:
        mapping = load_mapping(path)
    except MappingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"mapping {mapping.origin}: {len(mapping.tables)} source tables -> "
          f"{len(mapping.targets())} reference tables")
    for t in mapping.tables:
        derived = ", ".join(d.target for d in t.derived)
        extra = f" (derived: {derived})" if derived else ""
        skip = f"; skips rows by {t.skip_column}" if t.skip_column else ""
        print(f"  {t.name} -> erp.{t.target.name}: {len(t.renames)} columns renamed{extra}{skip}")
    return 0


def connector(args: argparse.Namespace, settings: BridgeSettings) -> int:
    """Print the Debezium connector config (name + config, as Kafka Connect's REST API takes it)."""
    path = _mapping_path(args, settings)
    try:
        mapping = load_mapping(path)
    except MappingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name, config = connector_config(args.connector or settings.source.connector, settings, mapping)
    print(json.dumps({"name": name, "config": config}, indent=2))
    return 0


def enable_cdc(args: argparse.Namespace, settings: BridgeSettings) -> int:
    """Print the T-SQL that enables CDC for the mapped tables and creates the connector's login."""
    path = _mapping_path(args, settings)
    try:
        mapping = load_mapping(path)
        sql = enable_cdc_sql(mapping, args.database or settings.source.database or "erp", args.login, args.role)
    except (MappingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(sql, end="")
    return 0
