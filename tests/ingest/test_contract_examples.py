"""Every example payload of the firmware contract, through the parser into TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.support.storage import store_messages

EXAMPLES = Path(__file__).resolve().parents[2] / "firmware-contracts" / "examples"
UPLINK_EXAMPLES = sorted(
    path
    for kind in ("telemetry", "location", "event", "status")
    for path in (EXAMPLES / kind).glob("*.json")
)
TABLES = ("telemetry_samples", "location_fixes", "device_events", "device_status")


def payload_of(example: dict) -> bytes:
    if "payload_raw" in example:
        return example["payload_raw"].encode()
    return orjson.dumps(example["payload"])


def test_there_are_examples_of_every_uplink_kind():
    kinds = {path.parent.name for path in UPLINK_EXAMPLES}
    assert kinds == {"telemetry", "location", "event", "status"}
    assert len(UPLINK_EXAMPLES) > 50


@pytest.mark.parametrize("path", UPLINK_EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_ingest_stores_and_dead_letters_what_the_example_expects(
    path: Path, settings, db, new_band_ids
):
    example = orjson.loads(path.read_bytes())
    (band,) = new_band_ids(1)
    received_at = datetime.fromtimestamp(example["server_now_ms"] / 1000, UTC)
    topic = f"eldercare/v1/{band}/{example['kind']}"
    store_messages(db, [(topic, payload_of(example), received_at)], settings=settings)

    stored = sum(
        db.execute(f"SELECT count(*) FROM {table} WHERE device_id = %s", (band,)).fetchone()[0]
        for table in TABLES
    )
    reasons = [
        reason
        for (reason,) in db.execute(
            "SELECT reason::text FROM dead_letters WHERE device_id = %s ORDER BY dead_letter_id",
            (band,),
        ).fetchall()
    ]
    assert stored == example["expect"]["stored"], example["description"]
    assert reasons == example["expect"]["dead_letters"], example["description"]
