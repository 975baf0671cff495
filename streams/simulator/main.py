"""``bridge sim``: run the casavi simulator over HTTP."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from streams.settings import BridgeSettings
from streams.simulator.app import SimulatorConfig, create_app

log = logging.getLogger(__name__)


def config_from(args: argparse.Namespace, settings: BridgeSettings) -> SimulatorConfig:
    """The simulator accepts the key and secret the bridge is configured with (the active
    casavi system), or the demo credentials when none are set."""
    db = Path(args.db) if args.db else settings.stack.state_dir / "casavi-sim.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    active = settings.casavi.active
    key, secret = active.key.get_secret_value(), active.secret.get_secret_value()
    config = SimulatorConfig(db_path=str(db), rate_limit_per_minute=args.rate_limit,
                             job_results=getattr(args, "job_results", "items"),
                             honour_deletes=not getattr(args, "ignore_deletes", False))
    if key and secret:
        config = config.model_copy(update={"credentials": {key: secret}})
    return config


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    config = config_from(args, settings)
    rate = f"{config.rate_limit_per_minute:g}/min" if config.rate_limit_per_minute else "off"
    log.info("casavi simulator on http://%s:%d (db %s, rate limit %s)", args.host, args.port, config.db_path, rate)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host=args.host, port=args.port, log_level=settings.log_level.lower())
    )
    server.run()
    return 0
