"""Data stored by ingest's own writer, as the bands send it, drives the engine."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import orjson

from alerting.alerts import service as alerts
from alerting.engine import apply_findings
from alerting.geo.datum import wgs84_to_gcj02
from tests.alerting.factories import HOME, T0, make_resident
from tests.support.storage import store_messages


def ms(dt) -> int:
    return int(dt.timestamp() * 1000)


def test_gcj02_fixes_at_home_are_inside_a_wgs84_home_fence(
    clean_alerts, engine, new_band_ids, settings
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    db.execute(
        """INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon, radius_m)
           VALUES (%s, 'home', 'circle', %s, %s, 120)""",
        (resident, *HOME),
    )
    g_lat, g_lon = wgs84_to_gcj02(HOME[0], HOME[1])  # several hundred metres off in WGS-84
    messages = []
    for i in range(12):
        t = T0 + timedelta(minutes=i)
        fix = {
            "t": ms(t),
            "lat": float(g_lat),
            "lon": float(g_lon),
            "acc": 10.0,
            "src": "gnss",
            "crs": "gcj02",
        }
        body = orjson.dumps({"v": 1, "sent_at": ms(t), "fixes": [fix]})
        messages.append((f"eldercare/v1/{band}/location", body, t))
    store_messages(db, messages, settings=settings)
    now = T0 + timedelta(minutes=12)
    engine.refresh(db, now=now)
    apply_findings(db, engine.evaluate_bands(db, now=now, device_ids=[band]), now=now)
    assert alerts.list_alerts(db, rule="geofence_exit") == []


def test_tachycardia_sent_as_telemetry_batches_raises_one_alert(
    clean_alerts, engine, new_band_ids, settings
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    hr = np.concatenate([np.full(10, 78), np.full(10, 128)])
    for batch in range(4):  # four uploads of five samples
        samples = [
            {"t": ms(T0 + timedelta(minutes=i)), "hr": int(hr[i]), "steps": 300, "worn": True}
            for i in range(batch * 5, batch * 5 + 5)
        ]
        sent = T0 + timedelta(minutes=batch * 5 + 5)
        body = orjson.dumps({"v": 1, "sent_at": ms(sent), "samples": samples})
        store_messages(db, [(f"eldercare/v1/{band}/telemetry", body, sent)], settings=settings)
        now = sent + timedelta(seconds=2)
        engine.refresh(db, now=now)
        apply_findings(db, engine.evaluate_bands(db, now=now, device_ids=[band]), now=now)
    (alert,) = alerts.list_alerts(db)
    assert alert["rule"] == "tachycardia"
