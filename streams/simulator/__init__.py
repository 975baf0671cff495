"""The casavi simulator: a local stand-in for the casavi manager API (demo, dry runs, tests)."""

from streams.simulator.app import SimulatorConfig, create_app

__all__ = ["SimulatorConfig", "create_app"]
