"""``bridge ui``: serve the protocol page (loopback by default; another address needs a token)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from functools import partial
from typing import cast

import uvicorn

from streams.settings import BridgeSettings
from streams.ops.explain import build as explain_build
from streams.ops.explain import render as explain_render
from streams.projection.explain import ExplainedEntity
from streams.ui.app import create_app
from streams.ui.collect import Collector

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _explain(settings: BridgeSettings, entity: str, key: str) -> str:
    """``bridge explain <entity> <key>`` as text, for the page's search."""
    result, from_worker = explain_build(settings, cast(ExplainedEntity, entity), key)
    return explain_render(result, from_worker)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    ui = settings.ui.model_copy(update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    if not is_loopback(ui.host) and ui.token is None:
        print(f"error: the protocol page listens on {ui.host}, beyond this machine: set BRIDGE_UI__TOKEN first "
              "(or keep the default 127.0.0.1)", file=sys.stderr)
        return 2
    print(f"protocol page: {address(ui.host, ui.port)}" + (" (add ?token=… once)" if ui.token else ""), flush=True)
    app = create_app(ui, Collector(settings.model_copy(update={"ui": ui})), explain=partial(_explain, settings))
    server = uvicorn.Server(uvicorn.Config(app, host=ui.host, port=ui.port, log_level="warning",
                                           timeout_graceful_shutdown=5))
    server.run()
    return 0
