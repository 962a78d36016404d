"""A synthetic fleet's recent samples as arrays, with known anomalies (bench and tests)."""

from __future__ import annotations

import numpy as np

from alerting.rules.common import Fleet
from alerting.rules.vitals import Telemetry


def synthetic_fleet(n_bands: int, n_samples: int, *, seed: int = 0, t0_ms: int = 1_795_420_800_000):
    """Bands reporting once a minute; some develop tachycardia, bradycardia (down to the extreme
    band), low pressure (alone or with a low heart rate), a crisis, or take the band off; and
    single spurious readings (a wrist optical sensor's outliers) are scattered over all.

    Returns (fleet, telemetry sorted by band and time, now_ms).
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"{860000000000000 + i:015d}" for i in range(n_bands)])
    fleet = Fleet(
        device_ids=ids,
        resident_ids=np.arange(n_bands, dtype=np.int64),
        living_alone=rng.random(n_bands) < 0.3,
        disabled=np.zeros(n_bands, bool),
        low_income=np.zeros(n_bands, bool),
        utc_offset_ms=np.full(n_bands, 8 * 3_600_000, dtype=np.int64),
    )
    codes = np.repeat(np.arange(n_bands), n_samples)
    t = t0_ms + np.tile(np.arange(n_samples) * 60_000, n_bands)
    t = t + rng.integers(-2000, 2000, len(t))  # bands do not report in lockstep
    k = np.tile(np.arange(n_samples), n_bands)
    kind = rng.random(n_bands)
    hr = rng.normal(74, 6, len(t))
    tachy = np.repeat(kind < 0.02, n_samples) & (k > n_samples // 2)
    hr = np.where(tachy, 120 + (k - n_samples // 2) * 1.5 + rng.normal(0, 3, len(t)), hr)
    brady = np.repeat((kind >= 0.02) & (kind < 0.03), n_samples) & (k > n_samples // 3)
    hr = np.where(brady, rng.normal(37, 2, len(t)), hr)
    extreme_brady = np.repeat((kind >= 0.08) & (kind < 0.09), n_samples) & (k > n_samples // 3)
    hr = np.where(extreme_brady, rng.normal(28, 3, len(t)), hr)
    score_2 = np.repeat((kind >= 0.09) & (kind < 0.1), n_samples) & (k > n_samples // 3)
    hr = np.where(score_2, rng.normal(125, 2, len(t)), hr)  # NEWS2 111-130: the sustained band
    low_bp = np.repeat((kind >= 0.06) & (kind < 0.08), n_samples) & (k > n_samples // 2)
    both_red = np.repeat((kind >= 0.07) & (kind < 0.08), n_samples) & (k > n_samples // 2)
    hr = np.where(both_red, rng.normal(37, 3, len(t)), hr)
    outlier = rng.random(len(t)) < 0.01
    hr = np.where(outlier, rng.choice([25.0, 35.0, 140.0, 190.0], len(t)), hr)
    walking = rng.random(len(t)) < 0.05
    steps_inc = np.where(walking, rng.integers(40, 120, len(t)), 0)
    steps = np.cumsum(steps_inc.reshape(n_bands, n_samples), axis=1).ravel().astype(float)
    reboot = np.repeat(rng.random(n_bands) < 0.05, n_samples) & (k >= n_samples // 4)
    steps = np.where(
        reboot, np.maximum(steps - steps[codes * n_samples + n_samples // 4], 0), steps
    )
    steps[rng.random(len(t)) < 0.5] = np.nan  # not every sample carries steps
    bp = (k % 10) == 0
    crisis = np.repeat((kind >= 0.03) & (kind < 0.045), n_samples) & (k > n_samples // 2)
    bp = bp | (low_bp & (k % 3 == 0))  # a worried band measures pressure more often
    sbp_normal = np.where(outlier, rng.choice([75.0, 230.0], len(t)), rng.normal(130, 10, len(t)))
    sbp_low = np.where(low_bp, rng.normal(86, 6, len(t)), sbp_normal)
    sbp = np.where(bp, np.where(crisis, rng.normal(200, 15, len(t)), sbp_low), np.nan)
    dbp = np.where(
        bp, np.where(crisis, rng.normal(115, 8, len(t)), rng.normal(80, 6, len(t))), np.nan
    )
    off = np.repeat((kind >= 0.045) & (kind < 0.06), n_samples) & (k > n_samples // 3)
    worn = np.where(off, 0.0, 1.0)
    worn[rng.random(len(t)) < 0.1] = np.nan
    hr[rng.random(len(t)) < 0.05] = np.nan
    tel = Telemetry(
        codes, t.astype(np.int64), np.round(hr), np.round(sbp), np.round(dbp), steps, worn
    )
    order = np.lexsort((tel.t_ms, tel.codes))
    now_ms = int(t.max()) + 5000
    return fleet, tel.take(order), now_ms
