"""With redis_cluster on, the API reads the band state ingest wrote to a Redis Cluster."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from eldercare.redis_client import connect_redis
from ingest.hot_state import HotState
from ingest.parse import ParsedMessage
from ingest.store import StoreResult

LAT, LON = 41.108, 122.994


def publish_fix(settings, device_id: str, t_ms: int) -> None:
    """What ingest does after committing one message with a sample and a fix."""
    message = ParsedMessage(
        topic=f"eldercare/v1/{device_id}/telemetry",
        payload=b"",
        device_id=device_id,
        kind="telemetry",
        received_ms=t_ms,
        samples=[(t_ms, 77, 125, 80, 100, True, None)],
        fixes=[(t_ms, LAT, LON, 9.0, "gnss", "wgs84")],
    )
    result = StoreResult(devices_with_new_rows={"telemetry": {device_id}, "location": {device_id}})
    hot = HotState(connect_redis(settings), settings.redis_prefix, settings.alerting_shard_count)
    hot.publish([message], result, committed_ms=t_ms)


def test_latest_location_and_console_board_read_band_state_from_a_redis_cluster(
    family_world, bind_band, api_settings, redis_cluster_url
):
    settings = api_settings.model_copy(
        update={"redis_url": SecretStr(redis_cluster_url), "redis_cluster": True}
    )
    rid = family_world["res_a"]
    device_id = bind_band(rid)
    publish_fix(settings, device_id, int(time.time() * 1000) - 20_000)

    with TestClient(create_app(settings)) as client:
        latest = client.get(
            f"/residents/{rid}/location/latest", headers=family_world["fam_a"].headers
        )
        assert latest.status_code == 200, latest.text
        assert latest.json()["fix"]["lat"] == LAT and latest.json()["fix"]["acc_m"] == 9.0
        board = client.get(
            "/board/residents",
            params={"grid_id": family_world["grid_a"], "purpose": "duty check"},
            headers=family_world["worker_a"].headers,
        )
        assert board.status_code == 200, board.text
        (row,) = [r for r in board.json()["items"] if r["resident_id"] == rid]
        assert row["worn"] is True and row["location"]["fix"]["lon"] == LON
        assert client.get("/health").status_code == 200
