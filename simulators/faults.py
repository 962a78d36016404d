"""What the network and buggy firmware do to messages: duplicates, delays, corruption."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import orjson

from simulators.messages import SimMessage


def duplicate_and_delay(
    messages: list[SimMessage],
    rng: np.random.Generator,
    *,
    duplicate_p: float = 0.15,
    delay_p: float = 0.15,
) -> list[SimMessage]:
    """Re-send some messages (a lost PUBACK) and hold others back so they arrive out of order."""
    out = []
    for message in messages:
        if rng.random() < delay_p:
            message = replace(message, at=message.at + timedelta(seconds=rng.uniform(60, 600)))
        out.append(message)
        if rng.random() < duplicate_p:
            out.append(replace(message, at=message.at + timedelta(seconds=rng.uniform(0.5, 30))))
    return out


def _truncate(payload: bytes, _rng: np.random.Generator) -> tuple[bytes, str]:
    return payload[: max(1, len(payload) // 2)], "malformed_json"


def _nan(payload: bytes, _rng: np.random.Generator) -> tuple[bytes, str]:
    return payload.replace(b'"sent_at":', b'"sent_at":NaN,"was":', 1), "malformed_json"


def _drop_version(payload: bytes, _rng: np.random.Generator) -> tuple[bytes, str]:
    body = orjson.loads(payload)
    body.pop("v", None)
    return orjson.dumps(body), "schema"


def _stringify_numbers(payload: bytes, _rng: np.random.Generator) -> tuple[bytes, str]:
    """Every item's t as a string: each item is a `schema` dead letter."""
    body = orjson.loads(payload)
    items = body.get("samples") or body.get("fixes") or [body]
    for item in items:
        item["t"] = str(item["t"])
    return orjson.dumps(body), "schema"


CORRUPTIONS = (_truncate, _nan, _drop_version, _stringify_numbers)


def corrupt_some(
    messages: list[SimMessage], rng: np.random.Generator, *, p: float = 0.05
) -> list[SimMessage]:
    """Replace a fraction of telemetry/location/event payloads with broken ones (marked)."""
    out = []
    for message in messages:
        if message.kind != "status" and rng.random() < p:
            corruption = CORRUPTIONS[int(rng.integers(len(CORRUPTIONS)))]
            payload, reason = corruption(message.payload, rng)
            message = replace(message, payload=payload, defect=reason)
        out.append(message)
    return out
