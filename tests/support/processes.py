"""Running services as real child processes, for tests that kill them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eldercare.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """Environment variables that make a child process use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        # Lists and dicts (channel chains, templates) are JSON, as pydantic-settings reads them.
        text = json.dumps(raw) if isinstance(raw, dict | list) else str(raw)
        env[f"ELDERCARE_{name.upper()}"] = text
    env.update({f"ELDERCARE_{k.upper()}": v for k, v in overrides.items()})
    return env


def spawn_service(
    settings: Settings, *args: str, log_path: Path | None = None, **overrides: str
) -> subprocess.Popen:
    """Start `eldercare <args>` as a child process with these settings."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "eldercare.cli", *args],
        env=settings_env(settings, **overrides),
        cwd=REPO_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
