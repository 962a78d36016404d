"""The engine on a Redis Cluster: an SOS ingest announces on its shard's stream reaches 120."""

from __future__ import annotations

import time

from pydantic import SecretStr

from alerting.worker import AlertingService
from eldercare import keys
from eldercare.redis_client import connect_redis
from eldercare.shards import shard_of
from ingest.hot_state import HotState
from ingest.parse import ParsedMessage
from ingest.store import StoreResult
from tests.alerting.factories import add_contact, make_resident
from tests.alerting.receivers import start_receivers
from tests.alerting.test_service import group_ready, sos_alerts
from tests.support.wait import wait_until


def test_sos_announced_on_a_cluster_reaches_120_through_its_shards_engine(
    clean_alerts, new_band_ids, settings, redis_cluster_url
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    add_contact(db, make_resident(db, band))
    shard = shard_of(band, 2)
    configured, recv = start_receivers(
        settings,
        redis_url=SecretStr(redis_cluster_url),
        redis_cluster=True,
        alerting_shard_count=2,
        alerting_shard_index=shard,
        alerting_consumer_name="cluster-test",
    )
    cluster = connect_redis(configured)
    prefix = configured.redis_prefix
    service = AlertingService(configured)
    service.start()
    try:
        wait_until(
            lambda: group_ready(cluster, keys.stored_stream(prefix, shard, 2), service.group)
        )
        t_ms = int(time.time() * 1000)
        # Not stored in device_events: only the stream entry can deliver this press.
        event = {"device_id": band, "event_id": f"cluster-{t_ms}", "type": "sos", "t_ms": t_ms,
                 "lat": None, "lon": None, "acc_m": None}  # fmt: skip
        message = ParsedMessage(
            topic=f"eldercare/v1/{band}/event", payload=b"", device_id=band, kind="event",
            received_ms=t_ms,
        )  # fmt: skip
        HotState(cluster, prefix, 2).publish([message], StoreResult(new_events=[event]), t_ms)

        wait_until(lambda: recv["g120"].received, timeout_s=30)
        assert recv["g120"].received[0].json["resident"]["name"] == "Test Resident"
        assert sos_alerts(db, band) == 1
    finally:
        service.stop()
        for r in recv.values():
            r.stop()
