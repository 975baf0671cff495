"""``bridge mapping enable-cdc``: the T-SQL enabling SQL Server CDC for exactly the mapped tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.mapping.cdcsql import enable_cdc_sql
from streams.mapping.compile import identity_mapping, load_mapping

CONNECT = Path(__file__).parents[2] / "connect"


def test_the_shipped_script_is_the_output_for_the_reference_schema() -> None:
    assert (CONNECT / "sqlserver" / "enable_cdc.sql").read_text() == enable_cdc_sql(identity_mapping(), "erp")


def test_example_profile_enables_its_own_tables_with_a_gating_role() -> None:
    mapping = load_mapping(CONNECT / "mappings" / "example-immo.yaml")
    sql = enable_cdc_sql(mapping, "immo", login="cdc_bridge", role="cdc_reader")
    enabled = re.findall(r"@source_schema = N'(\w+)', @source_name = N'(\w+)', @role_name = N'cdc_reader'", sql)
    assert enabled == [(t.schema, t.source) for t in mapping.tables]
    assert "USE immo;" in sql and "ALTER ROLE cdc_reader ADD MEMBER cdc_bridge;" in sql
    assert "ALTER ROLE db_datareader ADD MEMBER cdc_bridge;" in sql
    assert "$(CONNECTOR_PASSWORD)" in sql and "db_owner ADD" not in sql


@pytest.mark.parametrize("field", ["database", "login", "role"])
def test_names_that_are_not_plain_identifiers_are_refused(field: str) -> None:
    args = {"database": "erp", "login": "debezium", "role": "cdc_reader"} | {field: "x]; DROP TABLE erp.person; --"}
    with pytest.raises(ValueError, match=field):
        enable_cdc_sql(identity_mapping(), args["database"], args["login"], args["role"])
