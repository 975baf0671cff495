"""The protocol page: stage states and lags, long work with rate and time left, reconcile and
quality summaries (``streams.ui.build``), the HTML (escaped, nothing loaded from elsewhere, no
personal data) and the web server (read-only, the token)."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from streams.projection.quality import QualityCase, QualityReport
from streams.reconcile.progress import ProgressFile, ReconcileProgress, read_progress
from streams.settings import UiSettings
from streams.ui.app import COOKIE, create_app
from streams.ui.build import Gathered, GroupPosition, build_page, connector_state, eta, reconcile_summary
from streams.ui.main import is_loopback, run
from streams.ui.model import STAGE_KEYS, Connector, EntityActivity, Letters, LetterGroup, PageModel, Plot, Series
from streams.ui.plots import nice_max, svg
from streams.ui.render import document, duration, fragment

NOW = 1_790_000_000.0
RUNNING = [Connector(name="erp-postgres", state="RUNNING", tasks=["RUNNING"])]


def gathered(**kw: Any) -> Gathered:
    base: dict[str, Any] = dict(
        now=NOW, system="test", topics={"commands": "casavi.commands", "receipts": "casavi.receipts",
                                        "dlq": "casavi.dlq"},
        source="postgresql", connect_url="http://127.0.0.1:18083", kafka_ok=True, cdc_topics=22, cdc_found=22,
        cdc_records=1000, commands_records=400, connectors=RUNNING,
        worker_group=GroupPosition(committed=1000, end=1000, members=1),
        sink_group=GroupPosition(committed=400, end=400, members=1),
        worker_status={"running": True, "events": 1000, "commands": 400, "dead_letters": 1,
                       "newest_source_ts_ms": int(NOW * 1000) - 5000},
        sink_status={"running": True, "applied": 399, "dead_lettered": 1, "deferred": 0, "retries": 0},
        letters=Letters(since_ms=int(NOW * 1000) - 7 * 86_400_000),
    )
    base.update(kw)
    return Gathered(**base)


def states(page: PageModel) -> dict[str, tuple[str, int | None]]:
    return {s.key: (s.state, s.lag) for s in page.stages}


def test_every_stage_of_the_pipeline_in_order_and_ok_when_caught_up() -> None:
    page = build_page(gathered())
    assert [s.key for s in page.stages] == list(STAGE_KEYS)
    assert states(page) == {"erp": ("ok", None), "debezium": ("ok", None), "cdc": ("ok", None),
                            "worker": ("ok", 0), "commands": ("ok", None), "sink": ("ok", 0), "casavi": ("ok", None)}
    assert page.progress == []


def test_lag_makes_a_consumer_behind_and_shows_the_work_left() -> None:
    page = build_page(gathered(worker_group=GroupPosition(committed=400, end=1000, members=1),
                               sink_group=GroupPosition(committed=100, end=400, members=1),
                               rates={"worker": 50.0, "sink": None}))
    assert states(page)["worker"] == ("behind", 600) and states(page)["sink"] == ("behind", 300)
    worker, sink = page.progress
    assert (worker.done, worker.total, worker.rate_per_s, worker.eta_s) == (400, 1000, 50.0, 12.0)
    assert (sink.done, sink.total, sink.eta_s) == (100, 400, None)  # no rate measured yet


def test_worker_detail_has_its_counts_and_the_roots_it_defers() -> None:
    page = build_page(gathered(worker_status={"running": True, "events": 1200, "commands": 30, "dead_letters": 0,
                                              "pending_roots": 450}))
    assert page.stage("worker").detail == "events 1,200, commands 30, dead letters 0, pending roots 450"
    assert build_page(gathered(worker_status=None, worker_group=None)).stage("worker").detail == "no status file"


def test_a_stopped_process_is_down_whatever_its_lag() -> None:
    page = build_page(gathered(worker_group=GroupPosition(committed=10, end=20, members=0),
                               worker_status={"running": False}, sink_group=None, sink_status=None))
    assert states(page)["worker"] == ("down", 10)
    assert states(page)["sink"] == ("unknown", None) and states(page)["casavi"][0] == "unknown"


def test_connector_states() -> None:
    assert connector_state(None) == "down" and connector_state([]) == "down"
    assert connector_state(RUNNING) == "ok"
    assert connector_state([Connector(name="c", state="RUNNING", tasks=["FAILED"])]) == "down"
    assert connector_state([Connector(name="c", state="RUNNING", tasks=[])]) == "down"
    assert connector_state([Connector(name="c", state="PAUSED", tasks=["PAUSED"])]) == "behind"
    page = build_page(gathered(connectors=None, kafka_ok=False))
    assert states(page)["debezium"][0] == "down" and states(page)["erp"][0] == "unknown"
    assert states(page)["cdc"][0] == "down" and "not answering" in page.stage("debezium").detail


def test_reconcile_in_progress_shows_entities_read_rate_and_time_left() -> None:
    progress = ReconcileProgress(pid=1, system="test", started_at=NOW - 100, updated_at=NOW, expected=1000,
                                 read=200, requests=20)
    (work,) = build_page(gathered(reconcile_progress=progress, reconcile_alive=True)).progress
    assert (work.done, work.total, work.unit, work.rate_per_s, work.eta_s) == (200, 1000, "entities", 2.0, 400.0)
    assert build_page(gathered(reconcile_progress=progress, reconcile_alive=False)).progress == []
    estimated = progress.model_copy(update={"estimate": 50})
    (work,) = build_page(gathered(reconcile_progress=estimated, reconcile_alive=True)).progress
    assert (work.done, work.total, work.unit, work.rate_per_s, work.eta_s) == (20, 50, "requests", 0.2, 150.0)
    finished = progress.model_copy(update={"finished": True})
    assert build_page(gathered(reconcile_progress=finished, reconcile_alive=True)).progress == []
    stale = progress.model_copy(update={"updated_at": NOW - 3600})
    assert build_page(gathered(reconcile_progress=stale, reconcile_alive=True)).progress == []


def test_eta() -> None:
    assert eta(10, 110, 10.0) == 10.0
    assert eta(10, 110, 0.0) is None and eta(10, None, 5.0) is None and eta(10, 110, None) is None


def test_reconcile_report_summary() -> None:
    report = {"at": NOW, "system": "test", "dry_run": False, "seconds": 12.5, "requests": 40,
              "counts": {"contact": {"expected": 3, "observed": 3, "missing": 0, "different": 1, "extra": 1,
                                     "persisting": 0, "revoked": 1}},
              "missing": ["unit:7001-E803-0002"], "different": ["contact:E803-2"], "extra": ["contact:X-EXTRA"],
              "persisting": [], "repairs": {"redriven": 2, "deleted": 1, "revoked": 1}}
    summary = reconcile_summary(report)
    assert summary is not None
    assert (summary.missing, summary.different, summary.extra) == (1, 1, 1)
    assert summary.examples == ["unit:7001-E803-0002", "contact:E803-2", "contact:X-EXTRA"]
    assert reconcile_summary(None) is None and reconcile_summary({"counts": "x"}) is None


def quality() -> QualityReport:
    return QualityReport(generated_at=datetime.fromtimestamp(NOW, timezone.utc), today=date(2026, 9, 21),
                         cases=[QualityCase(rule="R08", case="shared e-mail address", kept="P-1", other="P-2")])


def test_page_html_has_stages_entities_letters_reconcile_quality_and_plots() -> None:
    letters = Letters(since_ms=0, total=2, last_hour=2, last_day=2, groups=[LetterGroup(
        stage="sink", reason="INVALID_FIELD", count=2, first_ms=1, last_ms=2, latest=["contact:E803-1"],
        redrivable=True, command="bridge dlq redrive --stage sink --reason INVALID_FIELD")])
    plot = Plot(title="Changes per minute", start_ms=0, series=[Series(name="CDC records", unit="per minute",
                                                                       points=[1.0, None, 3.0])])
    page = build_page(gathered(entities=[EntityActivity(entity="contact", applied_day=5, failed_day=1)],
                               letters=letters, quality=quality(), plots=[plot],
                               reconcile_report={"at": NOW, "system": "test", "counts": {}, "repairs": None,
                                                 "dry_run": True}))
    html = fragment(page)
    for key in STAGE_KEYS:
        assert f'data-stage="{key}"' in html
    assert 'data-entity="contact" data-commands-day="0" data-applied-day="5" data-failed-day="1"' in html
    assert 'data-copy="bridge dlq redrive --stage sink --reason INVALID_FIELD"' in html
    assert "R08 shared e-mail address: person P-1 keeps it" in html
    assert "dry run, nothing repaired" in html
    assert html.count("<svg") == 1 and "<polyline" not in html  # a gap leaves two single points
    assert "http" not in document(html, 2.0).replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://127.0.0.1:18083", "")


def test_values_are_escaped() -> None:
    letters = Letters(since_ms=0, total=1, groups=[LetterGroup(stage="fold", reason="<script>alert(1)</script>",
                                                               count=1, first_ms=0, last_ms=0,
                                                               command="bridge dlq show --reason '<b>'")])
    html = fragment(build_page(gathered(letters=letters)))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "'<b>'" not in html and "&#x27;&lt;b&gt;&#x27;" in html


def test_plot_scales_to_a_round_maximum() -> None:
    assert [nice_max(v) for v in (0.0, 0.4, 1.5, 37.0, 100.0, 101.0)] == [1.0, 1.0, 2.0, 50.0, 100.0, 200.0]
    drawing = svg(Plot(title="t", start_ms=0, series=[Series(name="a", unit="", points=[0.0, 5.0, 10.0])]))
    assert re.search(r'<polyline [^>]*points="48.0,130.0 [^"]* 550.0,10.0"', drawing)


def test_durations() -> None:
    assert [duration(s) for s in (None, 5, 95, 7300)] == ["-", "5 s", "1 min 35 s", "2 h 01 min"]


class FixedPage:
    def __init__(self, page: PageModel | None) -> None:
        self.page = page

    def run(self, stop: threading.Event) -> None:
        stop.wait()


def client(token: str | None = None, page: PageModel | None = None, empty: bool = False) -> httpx.AsyncClient:
    ui = UiSettings(token=SecretStr(token) if token else None)
    app = create_app(ui, FixedPage(None if empty else page or build_page(gathered())), collect=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:18490")


async def test_server_serves_page_fragment_and_json_read_only() -> None:
    async with client() as c:
        index = await c.get("/")
        assert index.status_code == 200 and 'data-stage="worker"' in index.text and 'src="page.js"' in index.text
        assert "default-src 'none'" in index.headers["content-security-policy"]
        assert (await c.get("/fragment")).text.startswith('<p class="meta">')
        model = PageModel.model_validate_json((await c.get("/api/page")).content)
        assert model.stage("sink").lag == 0
        assert (await c.get("/page.js")).headers["content-type"].startswith("text/javascript")
        assert (await c.post("/api/page")).status_code == 405


async def test_server_before_the_first_figures() -> None:
    async with client(empty=True) as c:
        assert "gathering the first figures" in (await c.get("/")).text
        assert (await c.get("/api/page")).status_code == 503


async def test_token_by_header_or_by_the_cookie_a_token_link_sets() -> None:
    async with client(token="s3cret") as c:
        assert (await c.get("/")).status_code == 401 and (await c.get("/api/page")).status_code == 401
        assert (await c.get("/", headers={"Authorization": "Bearer s3cret"})).status_code == 200
        assert (await c.get("/", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await c.get("/?token=wrong")).status_code == 401
        link = await c.get("/?token=s3cret")
        assert link.status_code == 303 and link.headers["location"] == "/"
        assert "httponly" in link.headers["set-cookie"].lower()
        assert c.cookies.get(COOKIE) == "s3cret"
        assert (await c.get("/fragment")).status_code == 200


def test_page_listens_beyond_loopback_only_with_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    from argparse import Namespace

    from streams.settings import BridgeSettings

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("ui.example.org")
    assert run(Namespace(host="0.0.0.0", port=None), BridgeSettings()) == 2
    assert "BRIDGE_UI__TOKEN" in capsys.readouterr().err


def test_reconcile_progress_file(tmp_path: Any) -> None:
    path = tmp_path / "reconcile-progress.json"
    progress = ProgressFile(path, "test", expected=500, estimate=30, min_interval_s=3600)
    assert read_progress(path) == progress.progress and progress.progress.read == 0
    progress.update(50, 3)  # within the interval: not written
    assert read_progress(path).read == 0  # type: ignore[union-attr]
    progress.update(480, 30, finished=True)
    written = read_progress(path)
    assert written is not None and written.finished and written.read == 480
    assert read_progress(tmp_path / "missing.json") is None


async def test_the_page_searches_why_an_entity_is_or_is_not_in_casavi() -> None:
    asked: list[tuple[str, str]] = []

    def explain(entity: str, key: str) -> str:
        asked.append((entity, key))
        return "contact E801-1: not in casavi\n  R07: tenant party without e-mail <b>"

    ui = UiSettings()
    app = create_app(ui, FixedPage(build_page(gathered())), collect=False, explain=explain)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:18490") as c:
        assert 'action="explain"' in (await c.get("/")).text  # the search sits on the page
        answer = await c.get("/explain", params={"entity": "contact", "key": " E801-1 "})
        assert answer.status_code == 200 and "R07: tenant party without e-mail &lt;b&gt;" in answer.text
        assert asked == [("contact", "E801-1")]
        assert (await c.get("/explain", params={"entity": "person", "key": "1"})).status_code == 400
        assert (await c.get("/explain", params={"entity": "unit"})).status_code == 400
        assert asked == [("contact", "E801-1")]
    async with client() as c:  # a page without explain
        assert (await c.get("/explain", params={"entity": "unit", "key": "U1"})).status_code == 404
