"""Commands that wait in the database for a watch that is away."""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests.gateway.conftest import Watch
from tests.gateway.frames import frame
from tests.support.mqtt import Publisher, wait_until


def waiting(db, imei: str) -> list[bytes]:
    sql = "SELECT content FROM watch_pending_commands WHERE device_id = %s ORDER BY command_seq"
    return [bytes(row[0]) for row in db.execute(sql, (imei,)).fetchall()]


@pytest.fixture
def api_publisher(broker):
    """Publishes commands on bands' cmd topics with the API's account."""
    publisher = Publisher(broker.url("api"))

    def send(imei: str, *commands: dict) -> None:
        for command in commands:
            publisher.publish(f"eldercare/v1/{imei}/cmd", orjson.dumps(command))
        publisher.wait_all_acked()

    yield send
    publisher.close()


def interval(seconds: int, n: int) -> dict:
    return {"v": 1, "id": f"c-{n}", "type": "config", "location_interval_s": seconds}


def test_commands_for_an_away_watch_survive_a_gateway_restart_and_go_out_in_order(
    gateway_factory, watch_band, api_publisher, db
):
    imei, watch_id = watch_band()
    first = gateway_factory()
    api_publisher(imei, interval(60, 1), {"v": 1, "id": "c-2", "type": "locate"}, interval(90, 3))
    wait_until(lambda: len(waiting(db, imei)) == 3)
    first.stop()

    second = gateway_factory()
    watch = Watch(second.port)
    watch.send(frame("LK", watch_id))
    watch.expect(b"LK")
    got = [f.content for f in watch.received]
    assert got == [b"UPLOAD,60", b"CR", b"UPLOAD,90"]  # all before the LK reply, in order
    assert waiting(db, imei) == []
    watch.close()


def test_waiting_commands_are_capped_oldest_first_and_expire(
    gateway_factory, watch_band, api_publisher, db
):
    imei, watch_id = watch_band()
    gw = gateway_factory(gateway_max_pending_commands=3)
    api_publisher(imei, *(interval(60 + n, n) for n in range(5)))
    wait_until(lambda: waiting(db, imei)[-1:] == [b"UPLOAD,64"])
    assert waiting(db, imei) == [b"UPLOAD,62", b"UPLOAD,63", b"UPLOAD,64"]
    watch = Watch(gw.port)
    watch.send(frame("LK", watch_id))
    watch.expect(b"LK")
    assert [f.content for f in watch.received] == [b"UPLOAD,62", b"UPLOAD,63", b"UPLOAD,64"]
    watch.close()
    gw.stop()  # one gateway at a time: each keeps the commands it hears

    stale_imei, stale_watch_id = watch_band()
    short = gateway_factory(gateway_pending_command_ttl_s=1)
    api_publisher(stale_imei, interval(120, 9))
    wait_until(lambda: len(waiting(db, stale_imei)) == 1)
    expired = "SELECT bool_and(expires_at < now()) FROM watch_pending_commands WHERE device_id = %s"
    wait_until(lambda: db.execute(expired, (stale_imei,)).fetchone()[0], timeout_s=10)
    watch = Watch(short.port)
    watch.send(frame("LK", stale_watch_id))
    watch.expect(b"LK")
    assert watch.received == []  # nothing went out before the reply: the command expired
    assert waiting(db, stale_imei) == []
    watch.close()


def test_a_command_the_database_refused_is_delivered_again_not_lost(
    gateway_factory, watch_band, api_publisher, db, caplog
):
    imei, _watch_id = watch_band()
    client_id = f"gateway-test-{uuid.uuid4().hex[:8]}"  # one gateway, restarted: one session
    refuse = "ALTER TABLE watch_pending_commands ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"
    db.execute(refuse)
    try:
        first = gateway_factory(gateway_client_id=client_id)
        api_publisher(imei, interval(75, 1))
        wait_until(lambda: "not kept" in caplog.text)
        first.stop()
    finally:
        db.execute("ALTER TABLE watch_pending_commands DROP CONSTRAINT refuse_all")
    gateway_factory(gateway_client_id=client_id)
    wait_until(lambda: waiting(db, imei) == [b"UPLOAD,75"], timeout_s=30)
