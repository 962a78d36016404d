"""Registration and revocation reach ingest without a restart."""

from __future__ import annotations

from ingest.known_devices import FULL_REFRESH_S, RECHECK_MISS_AFTER_S, KnownDevices
from ingest.parse import parse_message


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def message_from(device_id: str):
    return parse_message(
        f"eldercare/v1/{device_id}/status", b'{"v":1,"online":true}', received_ms=0
    )


def test_band_registered_after_start_is_known_on_its_next_message(database_url, new_band_ids):
    import psycopg

    from eldercare.imei import make_imei
    from eldercare.registry import register_devices

    clock = FakeClock()
    known = KnownDevices(clock)
    late = make_imei(654_321)
    with psycopg.connect(database_url) as conn:
        assert late not in known.ensure(conn, [message_from(late)])
        register_devices(conn, [late])
        conn.commit()
        clock.now += RECHECK_MISS_AFTER_S + 0.1
        assert late in known.ensure(conn, [message_from(late)])


def test_revoked_band_stops_being_known_after_a_refresh(database_url, new_band_ids):
    import psycopg

    (band,) = new_band_ids(1)
    clock = FakeClock()
    known = KnownDevices(clock)
    with psycopg.connect(database_url) as conn:
        assert band in known.ensure(conn, [message_from(band)])
        conn.execute("UPDATE devices SET state = 'revoked' WHERE device_id = %s", (band,))
        conn.commit()
        clock.now += FULL_REFRESH_S + 0.1
        assert band not in known.ensure(conn, [message_from(band)])
