"""Reading simulator output back the way a consumer of the contract would."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from eldercare.imei import make_imei
from simulators.messages import SimMessage

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 in Asia/Shanghai


def band_ids(n: int, first_serial: int = 1) -> list[str]:
    return [make_imei(first_serial + i) for i in range(n)]


def items(messages: list[SimMessage], kind: str) -> list[dict]:
    """Every sample (telemetry) or fix (location) or event body, in `t` order."""
    key = {"telemetry": "samples", "location": "fixes"}.get(kind)
    out = []
    for message in messages:
        if message.kind != kind:
            continue
        body = orjson.loads(message.payload)
        out.extend(body[key] if key else [body])
    return sorted(out, key=lambda item: item["t"])


def longest_run_ms(samples: list[dict], condition) -> int:
    """Longest time span of consecutive samples that all satisfy `condition`."""
    best, run_start = 0, None
    for sample in samples:
        if condition(sample):
            run_start = sample["t"] if run_start is None else run_start
            best = max(best, sample["t"] - run_start)
        else:
            run_start = None
    return best
