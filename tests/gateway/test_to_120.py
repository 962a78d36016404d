"""A fall and an SOS pressed on a 4G watch reach the 120 gateway through the real services:
watch -TCP-> gateway -MQTT-> ingest -> TimescaleDB + Redis -> alerting -> 120 webhook."""

from __future__ import annotations

from datetime import UTC, datetime

from alerting.worker import AlertingService
from tests.alerting.conftest import clean_alerts  # noqa: F401  (fixture)
from tests.alerting.factories import add_contact, make_resident
from tests.alerting.receivers import start_receivers
from tests.gateway.frames import alarm, frame
from tests.gateway.test_gateway import watch_clock
from tests.support.mqtt import wait_until


def test_fall_and_sos_from_a_watch_reach_the_120_gateway(
    clean_alerts,  # noqa: F811
    gateway,
    ingest_service,
    watches,
    watch_band,
    settings,
):
    db = clean_alerts
    configured, recv = start_receivers(settings, alerting_consumer_name="gateway-test-consumer")
    imei, watch_id = watch_band()
    resident = make_resident(db, imei, full_name="Wang Shufen")
    add_contact(db, resident)
    service = AlertingService(configured)
    service.start()
    try:
        watch = watches()
        watch.send(frame("LK,100,0,80", watch_id))
        watch.expect(b"LK")
        clock = watch_clock(datetime.now(UTC))
        watch.send(frame(alarm("00200000").replace("301126,235950", clock), watch_id))
        watch.expect(b"AL")
        ours = lambda: [r.json for r in recv["g120"].received if r.json["device_id"] == imei]  # noqa: E731
        fall = wait_until(ours, timeout_s=30)[0]
        assert (fall["kind"], fall["device_id"]) == ("fall", imei)
        assert fall["resident"]["name"] == "Wang Shufen"
        assert fall["location"]["wgs84"] == {"lat": 41.108, "lon": 122.994}
        watch.send(
            frame(alarm("00010000", "ALCUSTOMER1").replace("301126,235950", clock), watch_id)
        )
        watch.expect(b"AL")
        wait_until(lambda: len(ours()) >= 2, timeout_s=30)
        assert [call["kind"] for call in ours()] == ["fall", "sos"]
        sql = "SELECT type::text FROM device_events WHERE device_id = %s"
        assert sorted(t for (t,) in db.execute(sql, (imei,)).fetchall()) == ["fall", "sos"]
    finally:
        service.stop()
        for r in recv.values():
            r.stop()
