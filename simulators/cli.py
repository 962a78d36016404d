"""`eldercare simulate`: placeholder until the simulators land."""

from __future__ import annotations

import argparse

from eldercare.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bands", type=int, default=50)
    parser.add_argument("--register", action="store_true")


def run_simulation(settings: Settings, args: argparse.Namespace) -> int:
    raise SystemExit("simulators are not built yet")
