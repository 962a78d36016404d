"""Samples evaluated per second: vectorized vital-sign/wear rules vs a per-sample Python loop.

Same synthetic fleet (one sample a minute per band over the engine's look-back, with
tachycardia, bradycardia, low pressure, crises in every severity band, single outliers, bands
taken off, step-counter reboots, gaps), same run, and the two must produce identical findings,
details included. Usage: python bench/engine_throughput.py [bands]
"""

from __future__ import annotations

import json
import sys

import numpy as np
from synthetic import synthetic_fleet
from timing import best_of
from vitals_reference import evaluate_vitals_reference

from alerting.rules.common import SEVERITY_NAMES
from alerting.rules.thresholds import Params
from alerting.rules.vitals import evaluate_vitals


def main() -> None:
    n_bands = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    n_samples = 60  # one hour at one sample a minute
    fleet, tel, now_ms = synthetic_fleet(n_bands, n_samples, seed=42)
    params = Params(fleet.resident_ids)
    charging = np.zeros(n_bands, dtype=bool)
    open_flags = np.zeros(n_bands, dtype=bool)
    n = len(tel.codes)
    fast_s, fast = best_of(
        lambda: evaluate_vitals(
            fleet, params, tel, now_ms, charging=charging, open_not_worn=open_flags
        ),
        5,
    )
    slow_s, slow = best_of(
        lambda: evaluate_vitals_reference(
            fleet, params, tel, now_ms, charging=charging, open_not_worn=open_flags
        ),
        1,
    )

    def key(findings):
        return sorted(
            (f.rule, f.device_id, f.observed_at_ms, f.severity, f.clear, json.dumps(f.details))
            for f in findings
        )

    identical = key(fast) == key(slow)
    rules: dict[str, int] = {}
    bands: dict[str, int] = {}
    for f in fast:
        rules[f.rule] = rules.get(f.rule, 0) + 1
        if "band" in f.details:
            name = f"{f.rule}/{f.details['band']}/{SEVERITY_NAMES[f.severity]}"
            bands[name] = bands.get(name, 0) + 1
    print(f"bands={n_bands} samples={n}")
    print(f"vectorized : {fast_s * 1000:9.1f} ms  {n / fast_s:14,.0f} samples/s")
    print(f"per-sample : {slow_s * 1000:9.1f} ms  {n / slow_s:14,.0f} samples/s")
    print(f"speed-up   : {slow_s / fast_s:9.1f}x   (target >= 50x)")
    print(
        f"findings   : {len(fast)} {dict(sorted(rules.items()))}; "
        f"identical to per-sample: {identical}"
    )
    print(f"by band    : {dict(sorted(bands.items()))}")
    if not identical:
        raise SystemExit("vectorized and per-sample findings differ")


if __name__ == "__main__":
    main()
