"""After a commit: latest state per band in Redis, and a stream entry for each engine shard.

Redis is a cache of what the database already holds; losing it loses nothing.
"""

from __future__ import annotations

import orjson
import redis

from eldercare import keys
from eldercare.shards import BAND_GROUPS, shard_of, split_by_shard
from ingest.parse import ParsedMessage
from ingest.store import StoreResult

STREAM_MAXLEN = 1_000_000

# For each band (KEYS[i], updates in ARGV[1] as JSON): set a group's fields only if its
# time is newer than what Redis holds, so a late upload of buffered samples never
# overwrites a fresher state. One call per batch keeps the Python side cheap.
_APPLY_BATCH = """
local updates = cjson.decode(ARGV[1])
for i, key in ipairs(KEYS) do
  local band = updates[i]
  local seen = redis.call('HGET', key, 'last_seen')
  if not seen or tonumber(seen) < tonumber(band[1]) then
    redis.call('HSET', key, 'last_seen', band[1])
  end
  for _, group in ipairs(band[2]) do
    local current = redis.call('HGET', key, group[1])
    if not current or tonumber(current) < tonumber(group[2]) then
      redis.call('HSET', key, group[1], group[2], unpack(group[3]))
    end
  end
end
return #KEYS
"""


class HotState:
    """Writes the latest band state and the per-shard stored streams after each commit."""

    def __init__(self, client: redis.Redis, prefix: str, shard_count: int = 1) -> None:
        self.client = client
        self.prefix = prefix
        self.shard_count = shard_count
        self._apply_sha: str | None = None

    def publish(
        self, messages: list[ParsedMessage], result: StoreResult, committed_ms: int
    ) -> None:
        """Update latest state for every band in the batch and announce what was stored."""
        if self._apply_sha is None:
            self._apply_sha = self.client.script_load(_APPLY_BATCH)  # on every cluster primary
        try:
            self._send(messages, result, committed_ms)
        except redis.exceptions.NoScriptError:
            # A Redis node that restarted or failed over has lost the script. It only sets
            # newer fields, so sending it again is harmless; a repeated stream entry is only
            # evaluated twice.
            self._apply_sha = self.client.script_load(_APPLY_BATCH)
            self._send(messages, result, committed_ms)

    def _send(self, messages: list[ParsedMessage], result: StoreResult, committed_ms: int):
        latest = _latest_per_band(messages)
        seen = _last_seen(messages)
        pipe = self.client.pipeline(transaction=False)
        # One call per hash-tag group: on a cluster, the keys of one call share a slot.
        for bands in split_by_shard(sorted(seen), BAND_GROUPS).values():
            updates = [[str(seen[band]), latest.get(band, [])] for band in bands]
            band_keys = [keys.band_state(self.prefix, b) for b in bands]
            # EVALSHA by name: a cluster pipeline refuses redis-py's script helpers.
            pipe.execute_command(
                "EVALSHA", self._apply_sha, len(band_keys), *band_keys, orjson.dumps(updates)
            )
        for shard, entry in shard_entries(result, committed_ms, self.shard_count).items():
            pipe.xadd(
                keys.stored_stream(self.prefix, shard, self.shard_count),
                {"batch": entry},
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
        # Engines drain the streams of every shard count written, after a change of it.
        pipe.sadd(keys.stored_layouts(self.prefix), self.shard_count)
        pipe.execute()


def shard_entries(result: StoreResult, committed_ms: int, shard_count: int) -> dict[int, bytes]:
    """The stored-stream entry of each shard with new rows or events, naming only its bands.

    Entry: {"committed_at_ms", "telemetry": [device_id...], "location": [...], "status": [...],
    "events": [{"device_id", "event_id", ...}]}, device lists sorted.
    """
    new = result.devices_with_new_rows
    parts: dict[int, dict] = {}

    def part(shard: int) -> dict:
        return parts.setdefault(
            shard,
            {
                "committed_at_ms": committed_ms,
                "telemetry": [],
                "location": [],
                "status": [],
                "events": [],
            },
        )

    for kind in ("telemetry", "location", "status"):
        for shard, bands in split_by_shard(sorted(new.get(kind, ())), shard_count).items():
            part(shard)[kind] = bands
    for event in result.new_events:
        part(shard_of(event["device_id"], shard_count))["events"].append(event)
    return {shard: orjson.dumps(entry) for shard, entry in parts.items()}


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
    for device, (t, hr, sbp, dbp, steps, worn, temp_c) in vitals.items():
        fields = _present(hr=hr, sbp=sbp, dbp=dbp, steps=steps, worn=worn, temp_c=temp_c)
        out.setdefault(device, []).append(("vitals_t", str(t), fields))
    for device, (t, lat, lon, acc, src, _crs) in fixes.items():
        out.setdefault(device, []).append(
            ("fix_t", str(t), _present(lat=lat, lon=lon, acc_m=acc, src=src))
        )
    for device, (sent, online, battery, charging, _rssi, _fw) in status.items():
        fields = _present(online=online, battery=battery, charging=charging)
        out.setdefault(device, []).append(("status_t", str(sent), fields))
    return out


def _present(**values: object) -> list:
    """[name, value, ...] of the values present, as strings (Redis hashes hold strings)."""
    fields: list = []
    for name, value in values.items():
        if value is None:
            continue
        fields += [name, str(int(value)) if isinstance(value, bool) else str(value)]
    return fields
