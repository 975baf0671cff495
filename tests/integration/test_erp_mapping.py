"""An ERP with its own tables, end to end: the example profile (connect/mappings/example-immo.yaml)
on the real stack.

Its tables (German names and codes, a composite unit key, cancelled contracts) are created
in PostgreSQL, captured by a Debezium connector whose config the bridge derives from the
mapping, mapped and projected by the worker, and applied by the sink to the casavi
simulator. casavi must equal the projection of the ERP rows as the mapping reads them
straight from the database (``TableMapping.map_row``: SQL values, not CDC events).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from streams.demo.services import BridgeServices, wait_for
from streams.demo.verify import compare
from streams.mapping import load_mapping
from streams.projection.project import project_all
from streams.projection.state import ErpState
from streams.settings import BridgeSettings, SyncSettings
from streams.stack import connect, postgres
from streams.stack.paths import CONNECT_DIR

pytestmark = pytest.mark.integration

EXAMPLE = CONNECT_DIR / "mappings" / "example-immo.yaml"
DDL = CONNECT_DIR / "mappings" / "example-immo.postgres.sql"
TODAY = date.today()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expected(conn: Any) -> dict[str, Any]:
    """The projection of the ERP as it is now, read by SQL and mapped row by row."""
    mapping = load_mapping(EXAMPLE)
    state = ErpState()
    with conn.cursor() as cur:
        for t in mapping.tables:
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(t.schema, t.source)))
            names = [d.name for d in cur.description]
            for values in cur.fetchall():
                row = t.map_row(dict(zip(names, values, strict=True)))
                if row is not None:
                    state.set_row(t.target.name, row)
    return project_all(state, SyncSettings(), TODAY)


def _reset(conn: Any) -> None:
    conn.execute(DDL.read_text().encode())
    conn.execute("TRUNCATE immo.mandant, immo.objekt, immo.gebaeude, immo.einheit, immo.personentyp, immo.person,"
                 " immo.vertrag, immo.vertragspartner")


@pytest.fixture(scope="module")
def erp(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BridgeServices, Any]]:
    run = uuid.uuid4().hex[:8]
    prefix = f"immo-{run}"
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__CDC_TOPIC_PREFIX": prefix,
        "BRIDGE_SOURCE__MAPPING": str(EXAMPLE),
        "BRIDGE_KAFKA__WORKER_APP_ID": f"immo-{run}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"immo-sink-{run}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.immo-{run}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.immo-{run}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.immo-{run}",
        "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.immo-{run}",
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
    })
    settings = BridgeSettings()
    settings.kafka.cdc_topic_prefix = prefix
    settings.source.mapping = EXAMPLE
    tmp = Path(tmp_path_factory.mktemp("immo"))
    services = BridgeServices(env, tmp, sim_port=_free_port(), sim_db=tmp / "casavi.sqlite")
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
        _reset(conn)
        name, config = connect.postgres_connector(settings)  # derived from the mapping
        assert "immo\\.vertrag" in config["table.include.list"] and "erp\\." not in config["table.include.list"]
        connect.register(settings.stack, name, config)
        try:
            connect.wait_running(settings.stack, name, timeout_s=120)
            services.start()
            try:
                yield services, conn
            finally:
                services.stop()
        finally:
            httpx.delete(f"{connect.url(settings.stack)}/connectors/{name}", timeout=30)
            wait_for(lambda: name not in (connect.probe(settings.stack) or [name]), 60, "connector removed")
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                         " WHERE slot_name = %s AND NOT active", (config["slot.name"],))


def wait_converged(services: BridgeServices, conn: Any, timeout_s: float = 120) -> dict[str, Any]:
    want = expected(conn)
    last: list[str] = []

    def equal() -> dict[str, Any] | None:
        services.check()
        state: dict[str, Any] = httpx.get(f"{services.sim_url}/_sim/state", timeout=10).json()
        result = compare(want, state)
        last[:] = [result.summary()]
        return state if result.equal else None

    try:
        return wait_for(equal, timeout_s, "casavi equal to the projection", interval_s=0.3)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {last[0] if last else ''}\nworker log:\n{services.worker.tail()}"
                             f"\nsink log:\n{services.sink.tail()}") from None


def sql_tx(conn: Any, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with conn.transaction():
        for statement, params in statements:
            conn.execute(statement, params)


def test_example_erp_profile_end_to_end(erp: tuple[BridgeServices, Any]) -> None:
    services, conn = erp
    start = TODAY - timedelta(days=300)
    sql_tx(
        conn,
        ("INSERT INTO immo.mandant VALUES (42, 'Wohnbau Nord')", ()),
        ("INSERT INTO immo.objekt (obj_id, mandant_nr, obj_nr, bezeichnung, objektgruppe, strasse, plz, ort,"
         " verwaltung_ab) VALUES (17, 42, 'OB17', 'Am Markt', 'MFH', 'Marktstr. 1', '20095', 'Hamburg', %s)",
         (start,)),
        ("INSERT INTO immo.gebaeude VALUES (170, 17, 'Marktstr.', '1', '20095', 'Hamburg')", ()),
        ("INSERT INTO immo.einheit (obj_id, einh_nr, geb_id, lage, nutzungsart, einh_art, wohnflaeche, geschoss,"
         " zimmer, gueltig_ab) VALUES (17, '0001', 170, 'EG links', 'W', 'R', 61.5, 'EG', 2.5, %s),"
         " (17, '0002', 170, 'EG rechts', 'G', 'R', 80, 'EG', 3, %s),"
         " (17, '0099', NULL, 'Fiktiv', 'W', 'F', NULL, NULL, NULL, %s)", (start, start, start)),
        ("INSERT INTO immo.personentyp VALUES ('MIE', 'Mieter'), ('EIG', 'Eigentümer')", ()),
        ("INSERT INTO immo.person (pers_id, pers_nr, typ_kz, anrede, vorname, nachname, email, telefon, iban)"
         " VALUES (1, 'P-0001', 'MIE', 'Frau', 'Ilse', 'Brandt', 'ilse.brandt@example.org', '+49 40 1', NULL),"
         " (2, 'P-0002', 'MIE', 'Herr', 'Ole', 'Brandt', 'ole.brandt@example.org', NULL, 'DE02120300000000202051'),"
         " (3, 'P-0003', 'EIG', 'Firma', NULL, NULL, 'kontakt@gewerbe.example', NULL, NULL),"
         " (4, 'P-0004', 'MIE', 'Herr', 'Kai', 'Storno', 'kai@example.org', NULL, NULL)", ()),
        ("INSERT INTO immo.vertrag (vertrag_id, vertrag_nr, vertragsart, obj_id, einh_nr, pers_id, beginn,"
         " sollmiete, kaution, status) VALUES (900, '01', 'M', 17, '0001', 1, %s, 812.40, 2400, 'A'),"
         " (901, '01', 'G', 17, '0002', 3, %s, 1500, 4500, 'A'),"
         " (902, '02', 'M', 17, '0002', 4, %s, 10, 0, 'S'),"
         " (903, '01', 'M', 17, '0099', 2, %s, 1, 0, 'A')", (start, start, start, start)),
        ("INSERT INTO immo.vertragspartner VALUES (900, 2, 'MM')", ()),
    )
    state = wait_converged(services, conn)
    # what the mapping made of the ERP's codes and keys, checked by hand
    assert state["properties"]["42-OB17"]["country"] == "DE"
    assert state["units"]["42-OB17-0001"]["purpose"] == "RESIDENTIAL"
    assert state["units"]["42-OB17-0002"]["purpose"] == "COMMERCIAL"
    assert "42-OB17-0099" not in state["units"]  # einh_art F: a phantom unit (R04)
    assert state["contracts"]["42-OB17-0001-01"]["type"] == "TENANT"
    assert {c["contactId"] for c in state["contracts"]["42-OB17-0001-01"]["contacts"]} == {"P-0001", "P-0002"}
    assert "42-OB17-0002-02" not in state["contracts"]  # status S: cancelled, skipped
    assert "P-0004" not in {k for k, v in state["contacts"].items() if not v.get("archived")}

    # changes to codes and a cancellation reach casavi through the mapping
    sql_tx(conn,
           ("UPDATE immo.einheit SET nutzungsart = 'S' WHERE obj_id = 17 AND einh_nr = '0001'", ()),
           ("UPDATE immo.vertrag SET status = 'S' WHERE vertrag_id = 901", ()),
           ("UPDATE immo.vertrag SET status = 'A' WHERE vertrag_id = 902", ()))
    state = wait_converged(services, conn)
    assert state["units"]["42-OB17-0001"]["purpose"] == "PARKING"
    assert "42-OB17-0002-01" not in state["contracts"] and "42-OB17-0002-02" in state["contracts"]
