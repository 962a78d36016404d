"""The gateway's hand-over across a broker restart: nothing a watch sent is lost."""

from __future__ import annotations

import signal

import pytest
from pydantic import SecretStr

from tests.gateway.conftest import Watch
from tests.gateway.frames import alarm, frame
from tests.support.mqtt import wait_until
from tests.support.processes import spawn_service

# Both the gateway and ingest reconnect with a growing, jittered backoff (up to ~1 min
# after a long outage), and a restart of the broker is slow on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


def test_readings_sent_while_the_broker_is_down_are_stored_when_it_returns(
    settings, own_broker, gateway_factory, watch_band, db, tmp_path
):
    own = own_broker.settings_for(settings)
    ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest.log")
    gw = gateway_factory(
        amqp_url=SecretStr(own_broker.amqp_url("ingest")),
        gateway_amqp_url=SecretStr(own_broker.amqp_url("gateway")),
        gateway_mqtt_url=SecretStr(own_broker.url("gateway")),
    )
    imei, watch_id = watch_band()
    hr = "SELECT hr FROM telemetry_samples WHERE device_id = %s AND hr IS NOT NULL ORDER BY t"
    stored = lambda: [row[0] for row in db.execute(hr, (imei,)).fetchall()]  # noqa: E731
    try:
        watch = Watch(gw.port)
        watch.send(frame("heart,61", watch_id))
        wait_until(lambda: stored() == [61], timeout_s=60)

        own_broker.stop()
        for bpm in (62, 63, 64):
            watch.send(frame(f"heart,{bpm}", watch_id))
        watch.send(frame(alarm("00010000"), watch_id))
        with pytest.raises(AssertionError):  # not handed over: the watch is not answered
            watch.expect(b"AL", timeout_s=3)

        own_broker.start(bootstrap_accounts=False)
        watch.expect(b"AL", timeout_s=180)  # answered once the broker confirmed it
        wait_until(lambda: stored() == [61, 62, 63, 64], timeout_s=120)
        sos = "SELECT count(*) FROM device_events WHERE device_id = %s AND type = 'sos'"
        wait_until(lambda: db.execute(sos, (imei,)).fetchone()[0] == 1, timeout_s=30)
        watch.close()
    finally:
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(timeout=30)
