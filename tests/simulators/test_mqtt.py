"""Simulated bands and fleets against a real project broker (auth, ACLs, QoS 1)."""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import timedelta

import orjson
import pytest

from eldercare.imei import make_imei
from eldercare.settings import Settings, parse_mqtt_url
from simulators import cli
from simulators.connection import connect_and_wait, make_client
from simulators.fleet import Fleet, fleet_device_ids
from simulators.mqtt_band import MqttBand
from simulators.scenarios import run_scenario
from tests.simulators.helpers import START
from tests.support.services import ThrowawayBroker

UPLINK = ("telemetry", "location", "event", "status")


class Listener:
    """The `ingest` service account, subscribed to some topics, recording what arrives."""

    def __init__(self, broker: ThrowawayBroker, topics: list[str]) -> None:
        target = parse_mqtt_url(broker.url("ingest"))
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = make_client(f"listener-{uuid.uuid4().hex[:8]}", "ingest", target.password)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        connect_and_wait(self.client, target.host, target.port)
        self.client.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(5)

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def received(self, topic: str | None = None) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if topic is None or t == topic]

    def wait_for(self, count: int, topic: str | None = None, timeout_s: float = 10) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.received(topic)) >= count:
                return True
            time.sleep(0.02)
        return False

    def send(self, topic: str, body: dict) -> None:
        self.client.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def cli_args(*argv: str) -> argparse.Namespace:
    """Arguments as `eldercare simulate` parses them."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def provisioned_band(broker: ThrowawayBroker):
    device_id = make_imei(int(uuid.uuid4().int % 900_000) + 50_000)
    password = uuid.uuid4().hex
    broker.add_band(device_id, password)
    return device_id, password


def test_band_resends_sos_with_same_id_until_sos_ack(broker, provisioned_band) -> None:
    device_id, password = provisioned_band
    listener = Listener(broker, [f"eldercare/v1/{device_id}/event"])
    band = MqttBand(device_id, password, host="127.0.0.1", port=broker.port, resend_period_s=0.3)
    try:
        band.start()
        event_id = band.raise_alarm("sos", position={"lat": 41.108, "lon": 122.994, "acc": 8.0})
        assert listener.wait_for(3)
        cmd_topic = f"eldercare/v1/{device_id}/cmd"
        listener.send(cmd_topic, {"v": 1, "id": "c-1", "type": "sos_ack", "event_id": "other"})
        assert listener.wait_for(5)  # an ack for another event does not stop the re-sends
        listener.send(cmd_topic, {"v": 1, "id": "c-2", "type": "sos_ack", "event_id": event_id})
        assert band.wait_for_ack(event_id, timeout_s=5)
        sends_at_ack = len(band.sends(event_id))
        time.sleep(1.0)  # more than three re-send periods
        assert len(band.sends(event_id)) == sends_at_ack
        bodies = [orjson.loads(p) for p in listener.received()]
        assert {b["id"] for b in bodies} == {event_id} and {b["type"] for b in bodies} == {"sos"}
        assert len(bodies) == sends_at_ack >= 5
        assert band.acked_at(event_id) is not None
    finally:
        band.stop()
        listener.close()


def test_band_last_will_is_retained_offline_status(broker, provisioned_band) -> None:
    device_id, password = provisioned_band
    status_topic = f"eldercare/v1/{device_id}/status"
    band = MqttBand(device_id, password, host="127.0.0.1", port=broker.port).start()
    band.stop(send_will=True)
    time.sleep(0.3)
    listener = Listener(broker, [status_topic])  # subscribes afterwards: sees the retained will
    try:
        assert listener.wait_for(1, status_topic)
        assert orjson.loads(listener.received(status_topic)[-1]) == {"v": 1, "online": False}
    finally:
        listener.close()


def test_band_with_wrong_password_is_refused(broker, provisioned_band) -> None:
    device_id, _password = provisioned_band
    band = MqttBand(device_id, "not-the-password", host="127.0.0.1", port=broker.port)
    with pytest.raises(Exception, match="failed"):
        band.start(timeout_s=3)


def test_fleet_publishes_every_message_under_each_bands_topic(broker) -> None:
    device_ids = fleet_device_ids(5, first_serial=700_000)
    messages = run_scenario(
        "normal", seed=1, start=START, duration=timedelta(minutes=30), device_ids=device_ids
    )
    topics = [f"eldercare/v1/{d}/{kind}" for d in device_ids for kind in UPLINK]
    listener = Listener(broker, topics)
    fleet = Fleet(
        parse_mqtt_url(broker.url("simulator")),
        connections=2,
        max_rate_per_s=5000,
        client_id_prefix=f"sim-{uuid.uuid4().hex[:6]}",
    )
    try:
        with fleet:
            assert fleet.publish(messages) == len(messages)
            assert fleet.wait_until_acked(10)
        assert listener.wait_for(len(messages))
        assert sorted(listener.received()) == sorted(m.payload for m in messages)
        assert {t for t, _, _ in listener.messages} == {m.topic for m in messages}
    finally:
        listener.close()


def test_publish_burst_delivers_n_messages_of_m_samples(broker) -> None:
    device_ids = fleet_device_ids(10, first_serial=710_000)
    listener = Listener(broker, [f"eldercare/v1/{d}/telemetry" for d in device_ids])
    fleet = Fleet(
        parse_mqtt_url(broker.url("simulator")),
        connections=2,
        max_rate_per_s=10_000,
        client_id_prefix=f"burst-{uuid.uuid4().hex[:6]}",
    )
    try:
        with fleet:
            result = fleet.publish_burst(300, 20, device_ids=device_ids)
        assert result.messages == 300 and result.samples == 6000 and result.seconds > 0
        assert listener.wait_for(300)
        samples = [(b["samples"]) for b in map(orjson.loads, listener.received())]
        assert all(len(s) == 20 for s in samples)
    finally:
        listener.close()


def test_cli_runs_an_accelerated_fleet_and_stops_on_time(broker) -> None:
    listener = Listener(broker, ["eldercare/v1/+/telemetry"])
    settings = Settings(environment="test", simulator_mqtt_url=broker.url("simulator"))
    args = cli_args(
        "--bands=3",
        "--seed=1",
        "--speed=600",
        "--duration-s=1.5",
        "--connections=1",
        "--max-rate=5000",
        "--first-serial=720000",
        "--crs=gcj02",
    )
    began = time.monotonic()
    try:
        assert cli.run_simulation(settings, args) == 0
        assert time.monotonic() - began < 15
        # 1.5 s at 600x = 15 simulated minutes: 14 or 15 telemetry messages per band.
        assert listener.wait_for(3 * 14, timeout_s=5)
        assert len(listener.received()) <= 3 * 15
    finally:
        listener.close()


def test_cli_register_puts_the_fleet_in_the_device_registry(settings, db) -> None:
    args = cli_args("--bands=4", "--duration-s=0.2", "--register", "--first-serial=730000")
    assert cli.run_simulation(settings, args) == 0
    registered = {row[0] for row in db.execute("SELECT device_id FROM devices").fetchall()}
    assert set(fleet_device_ids(4, first_serial=730_000)) <= registered
