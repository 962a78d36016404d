"""After a commit: latest state per band in Redis, and a stream entry for the engine.

Redis is a cache of what the database already holds; losing it loses nothing.
"""

from __future__ import annotations

import orjson
import redis

from ingest.parse import ParsedMessage
from ingest.store import StoreResult

STREAM_MAXLEN = 1_000_000

# Set the fields only if this group's time is newer than what Redis holds, so a late
# upload of buffered samples never overwrites a fresher state.
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 3))
return 1
"""
_SET_MAX = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def band_key(prefix: str, device_id: str) -> str:
    return f"{prefix}band:{device_id}"


def stream_key(prefix: str) -> str:
    return f"{prefix}stream:stored"


class HotState:
    """Writes the latest band state and the 'stored' stream after each commit."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._set_if_newer = client.register_script(_SET_IF_NEWER)
        self._set_max = client.register_script(_SET_MAX)

    def publish(self, messages: list[ParsedMessage], result: StoreResult, committed_ms: int) -> None:
        """Update latest state for every band in the batch and announce what was stored."""
        pipe = self.client.pipeline(transaction=False)
        for device_id, groups in _latest_per_band(messages).items():
            key = band_key(self.prefix, device_id)
            for time_field, t_ms, fields in groups:
                self._set_if_newer(keys=[key], args=[time_field, t_ms, *fields], client=pipe)
        for device_id, seen_ms in _last_seen(messages).items():
            self._set_max(keys=[band_key(self.prefix, device_id)], args=["last_seen", seen_ms],
                          client=pipe)
        pipe.xadd(
            stream_key(self.prefix),
            {"batch": _stream_entry(result, committed_ms)},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )
        pipe.execute()


def _stream_entry(result: StoreResult, committed_ms: int) -> bytes:
    new = result.devices_with_new_rows
    return orjson.dumps(
        {
            "committed_at_ms": committed_ms,
            "telemetry": sorted(new.get("telemetry", ())),
            "location": sorted(new.get("location", ())),
            "status": sorted(new.get("status", ())),
            "events": result.new_events,
        }
    )


def _last_seen(messages: list[ParsedMessage]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for m in messages:
        if m.device_id and m.row_count:
            seen[m.device_id] = max(seen.get(m.device_id, 0), m.received_ms)
    return seen


def _latest_per_band(messages: list[ParsedMessage]) -> dict[str, list[tuple]]:
    """For each band: (time field, time, [field, value, ...]) of its newest vitals/fix/status."""
    vitals: dict[str, tuple] = {}
    fixes: dict[str, tuple] = {}
    status: dict[str, tuple] = {}
    for m in messages:
        device = m.device_id
        if device is None:
            continue
        for sample in m.samples:
            if device not in vitals or sample[0] > vitals[device][0]:
                vitals[device] = sample
        for fix in m.fixes:
            if device not in fixes or fix[0] > fixes[device][0]:
                fixes[device] = fix
        if m.status is not None and (device not in status or m.status[0] > status[device][0]):
            status[device] = m.status
    out: dict[str, list[tuple]] = {}
    for device, (t, hr, sbp, dbp, steps, worn) in vitals.items():
        fields = _present(hr=hr, sbp=sbp, dbp=dbp, steps=steps, worn=worn)
        out.setdefault(device, []).append(("vitals_t", t, fields))
    for device, (t, lat, lon, acc, src, _crs) in fixes.items():
        out.setdefault(device, []).append(
            ("fix_t", t, _present(lat=lat, lon=lon, acc_m=acc, src=src))
        )
    for device, (sent, online, battery, charging, _rssi, _fw) in status.items():
        fields = _present(online=online, battery=battery, charging=charging)
        out.setdefault(device, []).append(("status_t", sent, fields))
    return out


def _present(**values: object) -> list:
    fields: list = []
    for name, value in values.items():
        if value is None:
            continue
        fields += [name, int(value) if isinstance(value, bool) else value]
    return fields
