"""Migrations apply in order, once, and refuse an applied file that was edited."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from eldercare.migrate import MIGRATIONS_DIR, MigrationError, apply_all
from tests.support import services


@pytest.fixture
def empty_database(postgres_admin_url):
    url = services.create_database(postgres_admin_url, prefix="eldercare_migrate")
    yield url
    services.drop_database(postgres_admin_url, url)


def test_migrations_apply_once_and_are_safe_to_run_twice(empty_database):
    with psycopg.connect(empty_database) as conn:
        first = apply_all(conn)
        second = apply_all(conn)
        hypertables = {
            name
            for (name,) in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            ).fetchall()
        }
    assert first == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert second == []
    assert {"telemetry_samples", "location_fixes", "device_events"} <= hypertables


def test_an_edited_applied_migration_is_refused(empty_database, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    with psycopg.connect(empty_database) as conn:
        apply_all(conn, copy)
        first = sorted(copy.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="has changed"):
            apply_all(conn, copy)


def test_thresholds_entered_before_023_move_to_the_engines_table(empty_database, tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "023":
            shutil.copy(path, before / path.name)
    with psycopg.connect(empty_database) as conn:
        apply_all(conn, before)
        rid = conn.execute(
            "INSERT INTO residents (full_name) VALUES ('R') RETURNING resident_id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO resident_thresholds (resident_id, overrides) VALUES (%s, %s)",
            (rid, '{"tachycardia": {"bpm": 130, "note": "x"}, "geofence_exit": true}'),
        )
        conn.commit()
        assert apply_all(conn)[0] == "023_one_threshold_table.sql"  # and any later ones
        moved = conn.execute(
            "SELECT resident_id, name, value FROM alert_thresholds ORDER BY name"
        ).fetchall()
        gone = conn.execute("SELECT to_regclass('resident_thresholds')").fetchone()[0]
    assert moved == [(rid, "tachycardia_bpm", 130.0)]
    assert gone is None
