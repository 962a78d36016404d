"""The simulated watch fleet (`eldercare simulate --protocol watch`) through the gateway."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from simulators.messages import epoch_ms, make_message
from simulators.watch import WatchFleet, watch_id_of
from tests.support.mqtt import wait_until

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_watch_fleet_reaches_storage_through_the_gateway(gateway, ingest_service, db, new_band_ids):
    from gateway.store import set_watch_id

    (imei,) = new_band_ids(1)
    set_watch_id(db, device_id=imei, watch_id=watch_id_of(imei), offset_min=0)
    fleet = WatchFleet("127.0.0.1", gateway.port).start()
    try:
        t = epoch_ms(datetime.now(UTC))
        body = {"v": 1, "sent_at": t, "samples": [{"t": t, "hr": 66}]}
        sos = {"v": 1, "sent_at": t, "id": "w-1", "t": t, "type": "sos", "lat": 41.1, "lon": 123.0}
        fleet.publish(
            [make_message(imei, "telemetry", body, NOW), make_message(imei, "event", sos, NOW)],
            threading.Event(),
        )
        sql = "SELECT type::text FROM device_events WHERE device_id = %s"
        assert wait_until(lambda: db.execute(sql, (imei,)).fetchall()) == [("sos",)]
        hr = "SELECT hr FROM telemetry_samples WHERE device_id = %s AND hr IS NOT NULL"
        assert wait_until(lambda: db.execute(hr, (imei,)).fetchall()) == [(66,)]
        wait_until(lambda: fleet.replies >= 2)  # AL, and the sos_ack shown as MESSAGE
    finally:
        fleet.stop()
