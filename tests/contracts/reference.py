"""A reference reading of the contract's validation rules, used to check the examples.

It is deliberately small and slow: it spells out, in one place, how a message turns into
stored items and dead-letter reasons, so that every example's `expect` is checked against
the schemas plus the rules CONTRACT.md says only ingest can check. It is not the ingest
service; ingest has its own implementation and reads the same examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "firmware-contracts" / "schemas"
KINDS = ("telemetry", "location", "event", "status", "cmd")
BATCH_ITEMS = {"telemetry": "samples", "location": "fixes"}
ITEM_DEFS = {"telemetry": "sample", "location": "fix"}
# Failures of these keywords mean "a number outside its valid range"; `not` is only used
# for the 0,0 position.
RANGE_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "not"}
MAX_AGE_MS = 7 * 24 * 3600 * 1000
MAX_SKEW_MS = 5 * 60 * 1000


@dataclass
class Outcome:
    stored: int = 0
    dead_letters: list[str] = field(default_factory=list)


@cache
def load_schema(kind: str) -> dict:
    """The JSON Schema of one message kind."""
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text())


@cache
def validator(kind: str, definition: str | None = None) -> Draft202012Validator:
    """A validator for a whole message, or for one of its `$defs`."""
    schema = load_schema(kind)
    if definition is not None:
        schema = {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse(raw: bytes) -> object:
    """Strict JSON: UTF-8, no NaN/Infinity, one value."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def item_reason(kind: str, item: object, now_ms: int, definition: str | None = None) -> str | None:
    """The dead-letter reason of one item, or None if it is to be stored."""
    errors = list(validator(kind, definition).iter_errors(item))
    if any(e.validator not in RANGE_KEYWORDS for e in errors):
        return "schema"
    if errors:
        return "out_of_range"
    assert isinstance(item, dict)
    if kind == "telemetry" and "sbp" in item and item["sbp"] <= item["dbp"]:
        return "out_of_range"
    t = item.get("sent_at") if kind == "status" else item["t"]
    if t is None:  # the Last Will has no time of its own
        return None
    if t < now_ms - MAX_AGE_MS:
        return "out_of_range"
    if t > now_ms + MAX_SKEW_MS:
        return "clock_skew"
    return None


URGENT_TYPES = ("sos", "fall")
POSITION_KEYS = ("lat", "lon", "acc", "crs")


def evaluate_event(message: object, now_ms: int) -> Outcome:
    """Section 7, rule 5: an event's position is judged apart from the event, and an sos or
    fall with a wrong clock is kept at the time recovered from its own sent_at."""
    if not isinstance(message, dict) or type(message.get("t")) is not int:
        return Outcome(0, [item_reason("event", message, now_ms) or "schema"])
    core = {k: v for k, v in message.items() if k not in POSITION_KEYS}
    timeless = {**core, "t": now_ms}
    reason = item_reason("event", timeless, now_ms)
    if reason:
        return Outcome(0, [reason])
    position = {k: message[k] for k in POSITION_KEYS if k in message}
    position_reason = item_reason("event", {**timeless, **position}, now_ms) if position else None
    dead = [position_reason] if position_reason else []
    time_reason = item_reason("event", core, now_ms)
    if time_reason is None:
        return Outcome(1, dead)
    if message["type"] not in URGENT_TYPES:
        return Outcome(0, [time_reason])
    recovered = now_ms - max(0, message["sent_at"] - message["t"])
    if recovered < now_ms - MAX_AGE_MS:
        return Outcome(0, ["out_of_range"])
    return Outcome(1, [time_reason, *dead])


def evaluate(kind: str, raw: bytes, now_ms: int) -> Outcome:
    """What storage and dead letters one uplink message must produce."""
    try:
        message = parse(raw)
    except ValueError:
        return Outcome(0, ["malformed_json"])
    if kind == "event":
        return evaluate_event(message, now_ms)
    if kind not in BATCH_ITEMS:
        reason = item_reason(kind, message, now_ms)
        return Outcome(0, [reason]) if reason else Outcome(1, [])
    if list(validator(kind, "envelope").iter_errors(message)):
        return Outcome(0, ["schema"])
    assert isinstance(message, dict)
    outcome, seen_t = Outcome(), set()
    for item in message[BATCH_ITEMS[kind]]:
        reason = item_reason(kind, item, now_ms, ITEM_DEFS[kind])
        if reason:
            outcome.dead_letters.append(reason)
        elif item["t"] not in seen_t:  # (device, t) is the identity: stored once
            seen_t.add(item["t"])
            outcome.stored += 1
    return outcome
