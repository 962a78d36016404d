"""The engine: load recent data of many bands into arrays, run every rule, apply findings.

Bands are split between engine processes by `eldercare.shards.shard_of`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from alerting.alerts import service as alerts
from alerting.geo.fences import FenceSet, FenceSpec, build_fence_set
from alerting.rules.common import (
    CRITICAL,
    Finding,
    Fleet,
    last_row_of_each_band,
    sort_by_band_time,
)
from alerting.rules.device import evaluate_device_health, evaluate_inactivity
from alerting.rules.geofence import Fixes, evaluate_geofences
from alerting.rules.thresholds import Params, load_overrides
from alerting.rules.vitals import Telemetry, evaluate_vitals
from eldercare.settings import Settings
from eldercare.shards import shard_of
from ingest.rollups import partials_sql

log = logging.getLogger(__name__)

EVENT_RULES = {"sos": "SOS button pressed", "fall": "Fall detected"}


# A band's samples and fixes from before it was bound to its resident belong to whoever
# wore it then (over `s` JOIN devices `d`).
SINCE_BOUND = "s.t >= coalesce(d.bound_at, '-infinity')"


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _col(rows: list[tuple], i: int, dtype=float) -> np.ndarray:
    return np.array([r[i] for r in rows], dtype=dtype) if rows else np.zeros(0, dtype=dtype)


class Engine:
    """One engine shard's view of the fleet and its rules."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # Empty until the first refresh(); every method works (on no bands) before it.
        self.fleet: Fleet = Fleet(
            device_ids=np.zeros(0, dtype="<U15"),
            resident_ids=np.zeros(0, dtype=np.int64),
            living_alone=np.zeros(0, dtype=bool),
            disabled=np.zeros(0, dtype=bool),
            low_income=np.zeros(0, dtype=bool),
            utc_offset_ms=np.zeros(0, dtype=np.int64),
        )
        self.params: Params = Params(self.fleet.resident_ids)
        self.fences: FenceSet = build_fence_set([])
        self.baseline: tuple[np.ndarray, np.ndarray, np.ndarray] = (
            np.zeros((0, 24)),
            np.zeros((0, 24)),
            np.zeros((0, 24), dtype=bool),
        )
        self._fence_signature: tuple | None = None
        self.bound_ms = np.zeros(0, dtype=np.int64)  # rows before a band's binding are not its
        self.rows_read = 0  # telemetry and fix rows fetched, for the benchmark

    def owns(self, device_id: str) -> bool:
        s = self.settings
        return shard_of(device_id, s.alerting_shard_count) == s.alerting_shard_index

    # --- context ------------------------------------------------------------------------

    def refresh(self, conn: psycopg.Connection, *, now: datetime) -> None:
        """Reload bands, residents, overrides, fences and baselines (cheap; once a minute)."""
        rows = conn.execute(
            """SELECT d.device_id, coalesce(r.resident_id, -1), coalesce(r.living_alone, false),
                      coalesce(r.disabled, false), coalesce(r.low_income, false),
                      coalesce(r.timezone, 'Asia/Shanghai'),
                      (extract(epoch FROM d.bound_at) * 1000)::bigint
               FROM devices d LEFT JOIN residents r USING (resident_id)
               WHERE d.state = 'active' ORDER BY d.device_id"""
        ).fetchall()
        rows = [r for r in rows if self.owns(r[0])]
        offsets = {}
        for tz in {r[5] for r in rows}:
            try:
                offset = now.astimezone(ZoneInfo(tz)).utcoffset() or timedelta(0)
            except (KeyError, ValueError, OSError):  # OSError: a folder name such as Asia
                offset = timedelta(hours=8)
            offsets[tz] = int(offset.total_seconds() * 1000)
        self.fleet = Fleet(
            device_ids=np.array([r[0] for r in rows], dtype=object).astype(str)
            if rows
            else np.zeros(0, dtype="<U15"),
            resident_ids=_col(rows, 1, np.int64),
            living_alone=_col(rows, 2, bool),
            disabled=_col(rows, 3, bool),
            low_income=_col(rows, 4, bool),
            utc_offset_ms=np.array([offsets[r[5]] for r in rows], dtype=np.int64),
        )
        self.bound_ms = np.array(
            [np.iinfo(np.int64).min if r[6] is None else r[6] for r in rows], dtype=np.int64
        )
        self.params = Params(self.fleet.resident_ids, load_overrides(conn))
        specs, signature = self._load_fences(conn)
        if signature != self._fence_signature:  # rasters are costly: rebuild on change only
            self.fences = build_fence_set(specs)
            self._fence_signature = signature
        self.baseline = self._load_baselines(conn)

    def _load_fences(self, conn) -> tuple[list[FenceSpec], tuple]:
        residents = [int(r) for r in np.unique(self.fleet.resident_ids) if r >= 0]
        rows = conn.execute(
            # Stored in WGS-84 whatever datum they were drawn in (input_crs only records that),
            # so the specs keep FenceSpec's WGS-84 default: converting again would move them.
            """SELECT geofence_id, resident_id, shape, center_lat, center_lon, radius_m, polygon,
                      active_from, active_until, updated_at
               FROM geofences WHERE enabled AND resident_id = ANY(%s) ORDER BY geofence_id""",
            (residents,),
        ).fetchall()

        def minute(t) -> int:
            return -1 if t is None else t.hour * 60 + t.minute

        signature = tuple((r[0], r[1], r[9]) for r in rows)
        return [
            FenceSpec(
                fence_id=r[0],
                resident_id=r[1],
                shape=r[2],
                center_lat=r[3],
                center_lon=r[4],
                radius_m=r[5],
                ring=(r[6][0] if r[6] else None),
                active_from_min=minute(r[7]),
                active_until_min=minute(r[8]),
            )
            for r in rows
        ], signature

    def _load_baselines(self, conn):
        n = len(self.fleet.device_ids)
        mean, std, ok = np.full((n, 24), np.nan), np.full((n, 24), np.nan), np.zeros((n, 24), bool)
        rows = conn.execute(
            "SELECT resident_id, hour, hr_mean, hr_std, days FROM resident_baselines"
        ).fetchall()
        if not rows or n == 0:
            return mean, std, ok
        res, hour = _col(rows, 0, np.int64), _col(rows, 1, np.int64)
        order = np.argsort(self.fleet.resident_ids)
        pos = np.searchsorted(self.fleet.resident_ids[order], res)
        pos = np.clip(pos, 0, n - 1)
        hit = self.fleet.resident_ids[order][pos] == res
        codes = order[pos][hit]  # one band per resident (the first bound)
        mean[codes, hour[hit]] = _col(rows, 2)[hit]
        std[codes, hour[hit]] = _col(rows, 3)[hit]
        days = _col(rows, 4)[hit]
        ok[codes, hour[hit]] = days >= self.params.per_band("baseline_min_days")[codes]
        return mean, std, ok

    # --- loading ------------------------------------------------------------------------

    def _codes(self, device_ids: list[str] | None) -> tuple[list[str], np.ndarray]:
        if device_ids is None:
            return list(self.fleet.device_ids), np.arange(len(self.fleet.device_ids))
        codes = self.fleet.codes_of(device_ids)
        keep = codes >= 0
        return [d for d, k in zip(device_ids, keep, strict=True) if k], codes[keep]

    def load_telemetry(
        self, conn, device_ids: list[str], since: datetime, now: datetime
    ) -> Telemetry:
        """Samples of the given bands since `since`, as sorted columns."""
        rows = conn.execute(
            f"""SELECT device_id, (extract(epoch FROM t) * 1000)::bigint, hr, sbp, dbp, steps,
                      CASE WHEN worn IS NULL THEN NULL WHEN worn THEN 1 ELSE 0 END
               FROM telemetry_samples s JOIN devices d USING (device_id)
               WHERE device_id = ANY(%s) AND t >= %s AND received_at <= %s AND {SINCE_BOUND}""",
            (device_ids, since, now),
        ).fetchall()
        self.rows_read += len(rows)
        codes = self.fleet.codes_of([r[0] for r in rows])
        tel = Telemetry(codes, _col(rows, 1, np.int64), *(_col(rows, i) for i in range(2, 7)))
        return tel.take(sort_by_band_time(tel.codes, tel.t_ms))

    def load_fixes(self, conn, device_ids: list[str], since: datetime, now: datetime) -> Fixes:
        """Fixes of the given bands since `since`, as sorted columns (WGS-84)."""
        rows = conn.execute(
            f"""SELECT device_id, (extract(epoch FROM t) * 1000)::bigint, lat, lon, acc_m
               FROM location_fixes s JOIN devices d USING (device_id)
               WHERE device_id = ANY(%s) AND t >= %s AND received_at <= %s AND {SINCE_BOUND}""",
            (device_ids, since, now),
        ).fetchall()
        self.rows_read += len(rows)
        codes = self.fleet.codes_of([r[0] for r in rows])
        fixes = Fixes(codes, _col(rows, 1, np.int64), _col(rows, 2), _col(rows, 3), _col(rows, 4))
        return fixes.take(sort_by_band_time(fixes.codes, fixes.t_ms))

    def _open_flags(self, conn, rule: str) -> np.ndarray:
        rows = conn.execute(
            "SELECT DISTINCT device_id FROM alerts WHERE rule = %s AND status <> 'resolved'",
            (rule,),
        ).fetchall()
        flags = np.zeros(len(self.fleet.device_ids), dtype=bool)
        codes = self.fleet.codes_of([r[0] for r in rows])
        flags[codes[codes >= 0]] = True
        return flags

    def _device_state(self, conn):
        n = len(self.fleet.device_ids)
        last_seen = np.full(n, -1, dtype=np.int64)
        online, battery = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
        charging = np.zeros(n, dtype=bool)
        rows = conn.execute(
            """SELECT s.device_id, (extract(epoch FROM s.received_at) * 1000)::bigint,
                      s.online, s.battery, coalesce(s.charging, false),
                      (SELECT (extract(epoch FROM max(x.received_at)) * 1000)::bigint
                       FROM (SELECT received_at FROM telemetry_samples ts
                             WHERE ts.device_id = s.device_id ORDER BY t DESC LIMIT 1) x)
               FROM device_status s WHERE s.device_id = ANY(%s)""",
            (list(self.fleet.device_ids),),
        ).fetchall()
        if rows:
            codes = self.fleet.codes_of([r[0] for r in rows])
            ok = codes >= 0
            status_ms = _col(rows, 1, np.int64)
            sample_ms = _col([(r[5] or -1,) for r in rows], 0, np.int64)
            last_seen[codes[ok]] = np.maximum(status_ms, sample_ms)[ok]
            # A Last Will counts only until the band is heard from again.
            will = (_col(rows, 2, np.int64) == 0) & (status_ms >= sample_ms)
            online[codes[ok]] = np.where(will, 0, 1)[ok]
            battery[codes[ok]] = np.array([np.nan if r[3] is None else r[3] for r in rows])[ok]
            charging[codes[ok]] = _col(rows, 4, bool)[ok]
        # A band that never sent a status report is not judged offline (it was never online).
        return last_seen, online, battery, charging

    # --- evaluation ---------------------------------------------------------------------

    def evaluate_bands(
        self, conn, *, now: datetime, device_ids: list[str] | None = None
    ) -> list[Finding]:
        """Vitals, wear and geofence findings for the given bands (all of the shard if None).

        Reads every band's whole look-back: the reference the incremental engine matches.
        """
        ids, _ = self._codes(device_ids)
        if not ids:
            return []
        since = now - timedelta(seconds=self.settings.alerting_lookback_s)
        tel = self.load_telemetry(conn, ids, since, now)
        fixes = self.load_fixes(conn, ids, since, now)
        return self.evaluate_rows(conn, tel, fixes, now=now)

    def evaluate_rows(self, conn, tel: Telemetry, fixes: Fixes, *, now: datetime) -> list[Finding]:
        """Vitals, wear and geofence findings over the given bands' look-back rows."""
        mean, std, ok = self.baseline
        now_ms = _ms(now)
        found = evaluate_vitals(
            self.fleet,
            self.params,
            tel,
            now_ms,
            baseline_hr=mean,
            baseline_std=std,
            baseline_ok=ok,
            charging=self._charging_of_bands_off(conn, tel),
            open_not_worn=self._open_flags(conn, "band_not_worn"),
        )
        found += evaluate_geofences(self.fleet, self.params, self.fences, fixes, now_ms)
        return found

    def _charging_of_bands_off(self, conn, tel: Telemetry) -> np.ndarray:
        """Charging flags of the bands whose last wear reading is off (the only ones it decides)."""
        charging = np.zeros(len(self.fleet.device_ids), dtype=bool)
        have = np.flatnonzero(~np.isnan(tel.worn))
        last = have[last_row_of_each_band(tel.codes[have])]
        off = tel.codes[last[tel.worn[last] == 0.0]]
        if len(off):
            rows = conn.execute(
                "SELECT device_id FROM device_status WHERE device_id = ANY(%s) AND charging",
                ([str(d) for d in self.fleet.device_ids[off]],),
            ).fetchall()
            codes = self.fleet.codes_of([r[0] for r in rows])
            charging[codes[codes >= 0]] = True
        return charging

    def evaluate_health(self, conn, *, now: datetime) -> list[Finding]:
        """Offline and low-battery findings for the whole shard."""
        last_seen, online, battery, charging = self._device_state(conn)
        return evaluate_device_health(
            self.fleet,
            self.params,
            _ms(now),
            self.settings.alerting_band_interval_s,
            last_seen_ms=last_seen,
            online=online,
            battery=battery,
            charging=charging,
            open_offline=self._open_flags(conn, "device_offline"),
            open_battery=self._open_flags(conn, "low_battery"),
        )

    def evaluate_inactivity(self, conn, *, now: datetime) -> list[Finding]:
        """Inactivity findings for residents living alone."""
        ids = [str(d) for d in self.fleet.device_ids[self.fleet.living_alone]]
        if not ids:
            return []
        rows = conn.execute(
            f"""SELECT device_id, (extract(epoch FROM t) * 1000)::bigint, steps
               FROM telemetry_samples s JOIN devices d USING (device_id)
               WHERE device_id = ANY(%s) AND t >= %s
               AND steps IS NOT NULL AND received_at <= %s AND {SINCE_BOUND}""",
            (ids, now - timedelta(hours=24), now),
        ).fetchall()
        codes, t = self.fleet.codes_of([r[0] for r in rows]), _col(rows, 1, np.int64)
        order = sort_by_band_time(codes, t)
        return evaluate_inactivity(
            self.fleet,
            self.params,
            _ms(now),
            codes=codes[order],
            t_ms=t[order],
            steps=_col(rows, 2)[order],
        )

    @staticmethod
    def findings_from_events(events: list[dict]) -> list[Finding]:
        """SOS and fall events become findings at once, bypassing every window."""
        found = []
        for e in events:
            kind = e.get("type")
            if kind in EVENT_RULES:
                found.append(
                    Finding(
                        rule=kind,
                        device_id=e["device_id"],
                        observed_at_ms=int(e["t_ms"]),
                        severity=CRITICAL,
                        title=EVENT_RULES[kind],
                        details={"event_id": e["event_id"]},
                        lat=e.get("lat"),
                        lon=e.get("lon"),
                        acc_m=e.get("acc_m"),
                        source_event_id=e["event_id"],
                    )
                )
        return found

    def load_events_since(self, conn, *, since: datetime) -> tuple[list[dict], datetime | None]:
        """SOS/fall events received after `since` (the sweep behind the stream)."""
        rows = conn.execute(
            """SELECT device_id, event_id, type::text, (extract(epoch FROM t) * 1000)::bigint,
                      lat, lon, acc_m, received_at
               FROM device_events WHERE received_at > %s AND t > %s - interval '8 days'
               AND type IN ('sos', 'fall') ORDER BY received_at""",
            (since, since),
        ).fetchall()
        events = [
            {
                "device_id": r[0],
                "event_id": r[1],
                "type": r[2],
                "t_ms": r[3],
                "lat": r[4],
                "lon": r[5],
                "acc_m": r[6],
                "received_at": r[7],
            }
            for r in rows
            if self.owns(r[0])
        ]
        return events, (rows[-1][7] if rows else None)


# Hourly roll-ups where a UTC hour is one local hour (zones a whole number of hours from UTC),
# minute roll-ups elsewhere; raw samples only for the cut buckets and those not rolled up yet.
_BASELINES = f"""
WITH zone AS (
    SELECT r.resident_id, coalesce(n.name, 'Asia/Shanghai') AS name,
           coalesce(extract(minute FROM n.utc_offset) = 0, true) AS whole_hours
    FROM residents r LEFT JOIN pg_timezone_names n ON n.name = r.timezone),
bands AS (
    SELECT d.device_id, d.resident_id, z.name AS zone, z.whole_hours,
           greatest(%(start)s::timestamptz, coalesce(d.bound_at, '-infinity')) AS since
    FROM devices d JOIN zone z ON z.resident_id = d.resident_id),
by_hour AS (SELECT device_id, since FROM bands WHERE whole_hours),
by_minute AS (SELECT device_id, since FROM bands WHERE NOT whole_hours),
partials AS (
    {partials_sql("hour", "by_hour")}
    UNION ALL
    {partials_sql("minute", "by_minute")}),
local AS (
    SELECT b.resident_id, p.t AT TIME ZONE b.zone AS at, p.hr_n, p.hr_sum, p.hr_sumsq
    FROM partials p JOIN bands b ON b.device_id = p.device_id WHERE p.hr_n > 0),
merged AS (
    SELECT resident_id, extract(hour FROM at)::smallint AS hour, sum(hr_n) AS n,
           sum(hr_sum) AS s, sum(hr_sumsq) AS q, count(DISTINCT at::date) AS days
    FROM local GROUP BY 1, 2)
INSERT INTO resident_baselines (resident_id, hour, hr_mean, hr_std, hr_n, days, computed_at)
SELECT resident_id, hour, s / n,
       CASE WHEN n > 1 THEN sqrt(greatest(n * q - s * s, 0) / (n * (n - 1))) ELSE 0 END,
       n, days, %(now)s
FROM merged
ON CONFLICT (resident_id, hour) DO UPDATE SET hr_mean = EXCLUDED.hr_mean,
    hr_std = EXCLUDED.hr_std, hr_n = EXCLUDED.hr_n, days = EXCLUDED.days,
    computed_at = EXCLUDED.computed_at"""


def refresh_baselines(conn: psycopg.Connection, *, now: datetime, weeks: int = 4) -> int:
    """Recompute each resident's heart-rate normal per local hour over the past weeks.

    Only worn readings count, and the last day is left out so an ongoing episode does not
    become the normal it is measured against. Returns the number of (resident, hour) rows.
    A zone PostgreSQL does not know by name (stored before the API checked zones) is read as
    Asia/Shanghai, the UTC+8 that `Engine.refresh` falls back to, rather than failing for all.
    Readings from before a band was bound to its resident are someone else's normal.
    Read from the roll-ups (`ingest.rollups`): the same figures as over the raw samples.
    """
    with conn.transaction():
        cur = conn.execute(
            _BASELINES,
            {"now": now, "start": now - timedelta(weeks=weeks), "end": now - timedelta(days=1)},
        )
        return cur.rowcount


def apply_findings(
    conn: psycopg.Connection,
    findings: list[Finding],
    *,
    now: datetime,
    failed: list[Finding] | None = None,
) -> list[int]:
    """Apply findings (SOS and falls first); return ids of alerts opened or changed.

    A finding that fails is logged and appended to `failed` (for the caller to retry); the
    others are still applied. A broken connection is raised: every later finding would fail too.
    """
    changed = []
    for finding in sorted(findings, key=lambda f: -f.severity):
        try:
            alert_id = alerts.apply_finding(conn, finding=finding, now=now)
        except (psycopg.Error, alerts.AlertError):
            if conn.broken:
                raise
            log.exception(
                "applying a %s finding of band %s failed", finding.rule, finding.device_id
            )
            if failed is not None:
                failed.append(finding)
            continue
        if alert_id is not None:
            changed.append(alert_id)
    return changed
