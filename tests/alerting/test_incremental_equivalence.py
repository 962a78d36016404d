"""The incremental engine finds exactly what the full-window engine finds, step after step.

Same generated fleets in the same database: rows arrive over simulated time (some uploaded
late, some committed after rows received later), residents have random thresholds, fences
and baselines, bands are rebound to new residents, dropped and taken over again. At every step
the reference reads each band's whole hour; the incremental engine reads only new rows.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from alerting.band_worker import BandEvaluation
from alerting.engine import Engine, apply_findings
from alerting.incremental import RECHECK_SWEEP_S, IncrementalEngine
from bench.synthetic import synthetic_fleet
from tests.alerting.factories import HOME, T0, insert_telemetry, make_resident, set_status
from tests.alerting.test_rules_equivalence import as_set, random_overrides

STEP = timedelta(minutes=4)
N_BANDS = 120
N_MINUTES = 150


def _ms(dt) -> int:
    return int(dt.timestamp() * 1000)


def _at(ms: int):
    return T0 + timedelta(milliseconds=int(ms) - _ms(T0))


class World:
    """A generated fleet's rows, stored into the database as simulated time passes."""

    def __init__(self, db, bands: list[str], seed: int):
        self.db, self.bands, self.rng = db, bands, np.random.default_rng(seed)
        _, tel, _ = synthetic_fleet(len(bands), N_MINUTES, seed=seed, t0_ms=_ms(T0))
        taken_off = (tel.codes >= 20) & (tel.codes < 25) & (tel.t_ms > _ms(T0) + 40 * 60_000)
        tel.worn[taken_off] = 0.0  # a few more bands left on the night stand
        self.tel = tel
        delay = self.rng.uniform(200, 3000, len(tel.t_ms))
        late_upload = self.rng.random(len(tel.t_ms)) < 0.04  # buffered on the band for a while
        delay = np.where(late_upload, self.rng.uniform(5, 40, len(tel.t_ms)) * 60_000, delay)
        self.tel_received = tel.t_ms + delay.astype(np.int64)
        self.tel_stored = np.zeros(len(tel.t_ms), dtype=bool)
        n_fix = N_MINUTES // 2
        self.fix_codes = np.repeat(np.arange(len(bands)), n_fix)
        self.fix_t = _ms(T0) + np.tile(np.arange(n_fix) * 120_000, len(bands)) + 500
        wander = self.rng.random(len(bands)) < 0.3  # these walk off, some come back
        steps = self.rng.normal(0, 0.0015, (len(bands), n_fix))
        steps[wander] += 0.0008
        self.fix_lat = HOME[0] + np.cumsum(steps, axis=1).ravel()
        self.fix_lon = HOME[1] + self.rng.normal(0, 0.0004, len(self.fix_t))
        self.fix_acc = self.rng.choice([8.0, 25.0, 150.0], len(self.fix_t))
        self.fix_received = self.fix_t + self.rng.integers(200, 3000, len(self.fix_t))
        self.fix_stored = np.zeros(len(self.fix_t), dtype=bool)

    def store_until(self, now) -> None:
        """Store every row received by `now`; a few received just before the previous step
        commit only now (they are still in an ingest batch when the engine reads)."""
        now_ms = _ms(now)
        due = ~self.tel_stored & (self.tel_received <= now_ms)
        held = due & (self.tel_received > now_ms - 8000) & (self.rng.random(len(due)) < 0.5)
        self._copy_telemetry(np.flatnonzero(due & ~held))
        self.tel_received[held] = now_ms - self.rng.integers(1, 8000, held.sum())
        self.pending = np.flatnonzero(held)
        due = ~self.fix_stored & (self.fix_received <= now_ms)
        self._copy_fixes(np.flatnonzero(due))

    def commit_held(self) -> None:
        self._copy_telemetry(self.pending)

    def _copy_telemetry(self, rows: np.ndarray) -> None:
        tel = self.tel
        with (
            self.db.cursor() as cur,
            cur.copy(
                "COPY telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn, received_at)"
                " FROM STDIN"
            ) as copy,
        ):
            for i in rows:
                copy.write_row(
                    (
                        self.bands[tel.codes[i]],
                        _at(tel.t_ms[i]),
                        *(_int(v) for v in (tel.hr[i], tel.sbp[i], tel.dbp[i], tel.steps[i])),
                        None if np.isnan(tel.worn[i]) else bool(tel.worn[i]),
                        _at(self.tel_received[i]),
                    )
                )
        self.tel_stored[rows] = True

    def _copy_fixes(self, rows: np.ndarray) -> None:
        with (
            self.db.cursor() as cur,
            cur.copy(
                "COPY location_fixes (device_id, t, lat, lon, acc_m, src, received_at) FROM STDIN"
            ) as copy,
        ):
            for i in rows:
                copy.write_row(
                    (
                        self.bands[self.fix_codes[i]],
                        _at(self.fix_t[i]),
                        float(self.fix_lat[i]),
                        float(self.fix_lon[i]),
                        float(self.fix_acc[i]),
                        "gnss",
                        _at(self.fix_received[i]),
                    )
                )
        self.fix_stored[rows] = True


def _int(v):
    return None if np.isnan(v) else int(v)


def _residents(db, bands, rng, overridden: bool) -> list[int]:
    residents = [make_resident(db, band, living_alone=bool(rng.random() < 0.3)) for band in bands]
    if overridden:
        frame = random_overrides(rng, np.array(residents))
        for resident, row in frame.iterrows():
            for name, value in row.dropna().items():
                db.execute(
                    "INSERT INTO alert_thresholds (resident_id, name, value) VALUES (%s, %s, %s)",
                    (resident, name, float(value)),
                )
    for resident in residents:
        if rng.random() < 0.4:
            db.execute(
                """INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon,
                       radius_m) VALUES (%s, 'home', 'circle', %s, %s, %s)""",
                (resident, HOME[0], HOME[1], float(rng.choice([150, 400]))),
            )
        if rng.random() < 0.3:
            for hour in range(24):
                db.execute(
                    """INSERT INTO resident_baselines (resident_id, hour, hr_mean, hr_std, hr_n,
                           days, computed_at) VALUES (%s, %s, 62, 3, 100, 9, %s)""",
                    (resident, hour, T0),
                )
    return residents


@pytest.mark.parametrize(("seed", "overridden"), [(11, False), (12, True), (13, True)])
def test_incremental_findings_match_full_window_at_every_step(
    clean_alerts, settings, new_band_ids, seed, overridden
):
    db, rng = clean_alerts, np.random.default_rng(seed)
    bands = new_band_ids(N_BANDS)
    residents = _residents(db, bands, rng, overridden)
    for band in bands:
        set_status(db, band, T0, charging=bool(rng.random() < 0.2))
    world = World(db, bands, seed)
    reference, evaluation = Engine(settings), BandEvaluation(settings)
    compared = set()
    now = T0 + timedelta(minutes=25)
    world.store_until(now)
    world.commit_held()
    for step in range(28):
        now += STEP
        if step == 6:  # rebinding: the new resident's window starts at the binding
            for band in bands[:10]:
                db.execute(
                    """UPDATE devices SET resident_id = %s, bound_at = %s WHERE device_id = %s""",
                    (make_resident(db), now - timedelta(minutes=17), band),
                )
        if step == 9:
            db.execute(
                "UPDATE devices SET state = 'revoked' WHERE device_id = ANY(%s)", (bands[10:20],)
            )
        if step == 12:  # taken over again: history must be read anew
            db.execute(
                "UPDATE devices SET state = 'active' WHERE device_id = ANY(%s)", (bands[10:20],)
            )
        world.store_until(now)
        reference.refresh(db, now=now)
        expected = reference.evaluate_bands(db, now=now)
        if step % 2:  # the band worker's hot path, told of every band
            evaluation.incremental.refresh(db, now=now)
            found = evaluation.hot(db, now=now, device_ids=bands)
        else:
            found = evaluation.sweep(db, now=now)
        more = True
        while more:  # bands taken over: history read, then evaluated
            rebuilt, more = evaluation.rebuild_step(db, now=now)
            found += rebuilt
        assert as_set(found) == as_set(expected), f"step {step}"
        compared |= {f.rule for f in expected}
        apply_findings(db, expected, now=now)  # open alerts change what clears, for both
        world.commit_held()
    assert compared >= {"tachycardia", "band_not_worn", "geofence_exit"}
    assert residents  # the fleet was bound


def test_backfill_reads_history_only_for_bands_taken_over(clean_alerts, settings, new_band_ids):
    """After the first read, only new rows are fetched: rows read equal rows arriving."""
    db = clean_alerts
    bands = new_band_ids(20)
    for band in bands:
        make_resident(db, band)
    world = World(db, bands, seed=3)
    now = T0 + timedelta(minutes=60)
    world.store_until(now)
    world.commit_held()
    incremental = IncrementalEngine(settings)
    incremental.refresh(db, now=now)
    incremental.backfill(db, incremental.untracked_ids(), now=now)
    assert incremental.rows_read >= 20 * 55
    incremental.catch_up(db, now=now)  # the first read after a start rechecks the last seconds
    history = incremental.rows_read
    later = now + timedelta(minutes=10)
    world.store_until(later)
    world.commit_held()
    window = {"a": now, "b": later, "since": later - timedelta(hours=1)}
    arrived = sum(
        db.execute(
            f"""SELECT count(*) FROM {table} WHERE received_at > %(a)s AND received_at <= %(b)s
                AND t >= %(since)s""",
            window,
        ).fetchone()[0]
        for table in ("telemetry_samples", "location_fixes")
    )
    assert arrived >= 20 * 10
    incremental.catch_up(db, now=later)
    assert incremental.rows_read - history == arrived


def test_row_committed_a_minute_late_is_read_by_the_next_sweep(
    clean_alerts, settings, new_band_ids
):
    """A stalled ingest batch commits rows stamped a minute before the engine's last read: the
    hot path's 10 s recheck misses them, the sweep's 5 min recheck reads them."""
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    now = T0 + timedelta(minutes=60)
    incremental = IncrementalEngine(settings)
    incremental.refresh(db, now=now)
    incremental.backfill(db, [band], now=now)
    incremental.catch_up(db, now=now)
    stamped = now - timedelta(minutes=1)
    insert_telemetry(db, band, [stamped], hr=[70], steps=[0], worn=[1], received_at=stamped)
    code = incremental.engine.fleet.codes_of([band])

    def held() -> list[int]:
        tel, _ = incremental.gather(code, now=now + timedelta(seconds=40))
        return tel.t_ms.tolist()

    incremental.catch_up(db, now=now + timedelta(seconds=20))
    assert held() == []
    incremental.catch_up(db, now=now + timedelta(seconds=40), recheck_s=RECHECK_SWEEP_S)
    assert held() == [_ms(stamped)]
