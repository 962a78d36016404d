"""ELDERCARE_LOG_FORMAT=json: one JSON object per line, for a log collector."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson


def test_json_log_format_writes_one_json_object_per_line(repo_root):
    script = (
        "import logging; from eldercare.logs import configure_logging;"
        "from eldercare.settings import load_settings; s = load_settings();"
        "configure_logging(s.log_level, s.log_format);"
        "log = logging.getLogger('alerting.dispatcher');"
        "log.warning('notice %s to %s failed: %s', 'k-1', 'sms', 'HTTP 503')\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('boom')"
    )
    env = {**os.environ, "ELDERCARE_LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_root, env=env, capture_output=True, check=True
    )
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "alerting.dispatcher"
    assert lines[0]["message"] == "notice k-1 to sms failed: HTTP 503"
    assert lines[0]["time"].endswith("+00:00")
    assert "ZeroDivisionError" in lines[1]["exception"]
