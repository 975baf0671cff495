"""``bridge``: the one command users drive the bridge with.

    bridge stack up|down|status [--json]|logs [SERVICE]   local Kafka, Kafka Connect + Debezium, PostgreSQL
    bridge mapping check|connector|enable-cdc [FILE]       the ERP mapping onto the reference schema
    bridge worker                                          CDC topics -> casavi commands (Faust)
    bridge sink                                            casavi commands -> casavi manager API
    bridge hooks                                           portal tickets and comments -> casavi.inbound
    bridge reconcile [--dry-run] [--entity E]              read casavi back, repair the drift
    bridge dlq list|show|redrive [--since] [--reason]      the dead letters; redrive what they name
    bridge replay --from-beginning|--to-datetime|--to-offsets   move worker and sink back (stopped)
    bridge report quality [--json]                         the data-quality cases (no personal data)
    bridge explain ENTITY KEY [--json]                     why an entity is (not) in casavi
    bridge topics tail [TOPIC] [-f]                        newest records, decoded (personal data masked)
    bridge progress [--follow]                             bulk load / replay catch-up: counts, rate, time left
    bridge sim                                             the casavi simulator (HTTP)
    bridge ui [--host] [--port]                            the protocol page (read-only, loopback by default)
    bridge demo [--no-reset]                               everything above with a generated housing company
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from streams.ops.logs import configure as configure_logging
from streams.settings import BridgeSettings, load_settings

Handler = Callable[[argparse.Namespace, BridgeSettings], int]


def _lazy(module: str, func: str = "run") -> Handler:
    """Import a subcommand's module only when it runs (keeps ``bridge --help`` fast)."""

    def handler(args: argparse.Namespace, settings: BridgeSettings) -> int:
        fn: Handler = getattr(importlib.import_module(module), func)
        return fn(args, settings)

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description="ERP -> casavi streaming bridge")
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local streaming stack (no Docker needed)")
    stack_sub = stack.add_subparsers(dest="stack_command", required=True)
    up = stack_sub.add_parser("up", help="install what is missing, start everything, wait until ready")
    up.add_argument("--no-connector", action="store_true", help="do not register the Debezium connector")
    up.set_defaults(handler=_lazy("streams.stack.commands", "up"))
    down = stack_sub.add_parser("down", help="stop what 'up' started")
    down.add_argument("--purge", action="store_true", help="also delete data and logs (keeps the download cache)")
    down.set_defaults(handler=_lazy("streams.stack.commands", "down"))
    status = stack_sub.add_parser("status", help="what runs, and the endpoints")
    status.add_argument("--json", action="store_true", help="machine-readable endpoints and states")
    status.set_defaults(handler=_lazy("streams.stack.commands", "status"))
    logs = stack_sub.add_parser("logs", help="print the tail of a service's log")
    logs.add_argument("service", nargs="?", choices=["kafka", "connect", "postgres"])
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.set_defaults(handler=_lazy("streams.stack.commands", "logs"))

    mapping = sub.add_parser("mapping", help="the ERP mapping: check it, derive its Debezium connector config")
    mapping_sub = mapping.add_subparsers(dest="mapping_command", required=True)
    mcheck = mapping_sub.add_parser("check", help="validate a mapping against the reference schema")
    mcheck.add_argument("file", nargs="?", help="mapping file (default: BRIDGE_SOURCE__MAPPING)")
    mcheck.set_defaults(handler=_lazy("streams.mapping.cli", "check"))
    mconn = mapping_sub.add_parser("connector", help="print the connector config capturing exactly the mapped tables")
    mconn.add_argument("file", nargs="?", help="mapping file (default: BRIDGE_SOURCE__MAPPING)")
    mconn.add_argument("--connector", choices=["postgresql", "sqlserver"], default=None,
                       help="default: BRIDGE_SOURCE__CONNECTOR")
    mconn.set_defaults(handler=_lazy("streams.mapping.cli", "connector"))
    mcdc = mapping_sub.add_parser("enable-cdc", help="print the T-SQL enabling SQL Server CDC for the mapped tables")
    mcdc.add_argument("file", nargs="?", help="mapping file (default: BRIDGE_SOURCE__MAPPING)")
    mcdc.add_argument("--database", default=None, help="default: BRIDGE_SOURCE__DATABASE, else erp")
    mcdc.add_argument("--login", default="debezium", help="the connector's SQL login (default: debezium)")
    mcdc.add_argument("--role", default=None, help="gating role for the change tables (default: none)")
    mcdc.set_defaults(handler=_lazy("streams.mapping.cli", "enable_cdc"))

    rec = sub.add_parser("reconcile", help="read casavi back, compare with the projection, repair the drift")
    rec.add_argument("--dry-run", action="store_true", help="report only; repair nothing")
    rec.add_argument("--entity", action="append", choices=["property", "unit", "contract", "contact"],
                     help="only these entities (repeatable)")
    rec.set_defaults(handler=_lazy("streams.reconcile.run"))

    replay = sub.add_parser("replay", help="move the worker's and the sink's consumer groups (they must be stopped)")
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument("--from-beginning", action="store_true", help="read every input topic from its first record")
    where.add_argument("--to-datetime", metavar="T", help="from the first record at or after T (ISO-8601)")
    where.add_argument("--to-offsets", metavar="FILE", help='JSON {"<group>": {"<topic>": {"<partition>": offset}}}')
    replay.add_argument("--target", choices=["worker", "sink", "both"], default="both")
    replay.add_argument("--dry-run", action="store_true", help="print the offsets; change nothing")
    replay.set_defaults(handler=_lazy("streams.replay"))

    dlq = sub.add_parser("dlq", help="the dead letters: list them by reason, show them, redrive them")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, func, text in (("list", "list_", "counts by stage and reason"),
                             ("show", "show", "the letters, one per line (no personal data)"),
                             ("redrive", "redrive", "re-project the casavi slots the letters name")):
        cmd = dlq_sub.add_parser(name, help=text)
        cmd.add_argument("--since", help="ISO-8601 time or a duration back from now (30m, 24h, 7d)")
        cmd.add_argument("--reason", help="only letters whose reason or error code contains this")
        cmd.add_argument("--stage", choices=["decode", "fold", "project", "sink"])
        if name == "redrive":
            cmd.add_argument("--dry-run", action="store_true", help="print what would be redriven")
        else:
            cmd.add_argument("--json", action="store_true")
        if name == "show":
            cmd.add_argument("--limit", type=int, default=50, help="the newest N letters (default 50)")
        cmd.set_defaults(handler=_lazy("streams.dlq.cli", func))

    report = sub.add_parser("report", help="reports of the running bridge")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    rquality = report_sub.add_parser("quality", help="data-quality cases (shared e-mail addresses, staff casavi "
                                                     "cannot take): rule and ERP numbers, no personal data")
    rquality.add_argument("--json", action="store_true")
    rquality.set_defaults(handler=_lazy("streams.report", "quality"))

    topics = sub.add_parser("topics", help="the bridge's topics, decoded")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    ttail = topics_sub.add_parser("tail", help="the newest records of a topic (commands decoded from Avro, "
                                               "personal data masked)")
    ttail.add_argument("topic", nargs="?", help="default: the commands topic (BRIDGE_KAFKA__COMMANDS_TOPIC)")
    ttail.add_argument("-n", "--lines", type=int, default=20, help="records per partition (default 20)")
    ttail.add_argument("-f", "--follow", action="store_true", help="go on printing new records until Ctrl-C")
    ttail.add_argument("--show-personal-data", action="store_true",
                       help="show contacts' and staff members' personal fields instead of ***")
    ttail.add_argument("--json", action="store_true", help="one JSON object per record")
    ttail.set_defaults(handler=_lazy("streams.ops.tail", "tail"))

    progress = sub.add_parser("progress", help="the worker's and the sink's catch-up (bulk load, replay): counts, "
                                               "rate and time left, until nothing waits")
    progress.add_argument("-f", "--follow", action="store_true", help="go on after catching up, until Ctrl-C")
    progress.add_argument("--interval", type=float, default=1.0, help="seconds between readings (default 1)")
    progress.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit 1)")
    progress.set_defaults(handler=_lazy("streams.ops.progress", "watch"))

    explain = sub.add_parser("explain", help="why an entity is (not) in casavi: the rule decisions, the last command, "
                                             "casavi's receipt, dead letters (no personal data)")
    explain.add_argument("entity", choices=["property", "unit", "contract", "contact", "staff"])
    explain.add_argument("key", help="ERP number (property, unit, contract, person or user number) or reference id")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(handler=_lazy("streams.ops.explain"))

    worker = sub.add_parser("worker", help="fold CDC events into state and emit casavi commands")
    worker.set_defaults(handler=_lazy("streams.worker.main"))

    sink = sub.add_parser("sink", help="apply casavi commands to the casavi manager API")
    sink.set_defaults(handler=_lazy("streams.sink.main"))

    hooks = sub.add_parser("hooks", help="casavi's REST hooks and polling: portal tickets and comments to the "
                                         "inbound topic")
    hooks.set_defaults(handler=_lazy("streams.inbound.main"))

    sim = sub.add_parser("sim", help="run the casavi simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=18480)
    sim.add_argument("--db", default=None, help="SQLite file (default: <state dir>/casavi-sim.sqlite)")
    sim.add_argument("--rate-limit", type=float, default=0.0, help="requests per minute; 0 = unlimited")
    sim.add_argument("--job-results", choices=["items", "empty"], default="items",
                     help='"empty": import jobs answer "results": {} as the API text shows (default: per-item results)')
    sim.add_argument("--ignore-deletes", action="store_true",
                     help='ignore "delete": true on master data (the API text documents it for documents only)')
    sim.set_defaults(handler=_lazy("streams.simulator.main"))

    ui = sub.add_parser("ui", help="serve the protocol page: pipeline, entities, dead letters, reconcile, quality")
    ui.add_argument("--host", default=None, help="default: BRIDGE_UI__HOST (127.0.0.1)")
    ui.add_argument("--port", type=int, default=None, help="default: BRIDGE_UI__PORT (18490)")
    ui.set_defaults(handler=_lazy("streams.ui.main"))

    demo = sub.add_parser("demo", help="stack, simulator, worker and sink with a generated housing company")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--scale", type=float, default=1.0, help="1.0 = 100 properties, 3,000 units, 5,000 persons")
    demo.add_argument("--keep-running", action="store_true", help="leave everything running at the end")
    demo.add_argument("--no-reset", dest="reset", action="store_false",
                      help="keep the local stack's data and CDC history (default: start from an empty stack)")
    demo.set_defaults(handler=_lazy("streams.demo.main"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
