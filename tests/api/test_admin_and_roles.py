"""Admin bootstrap, production settings, the audit log route, and the grid-scoped roles."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.accounts.service import create_account, seed_dev_admin
from eldercare.settings import Settings


def test_production_refuses_the_development_jwt_secret(settings):
    with pytest.raises(ValidationError, match="API_JWT_SECRET"):
        Settings(
            environment="production",
            database_url="postgresql://eldercare:real@db/eldercare",
            amqp_url="amqp://ingest:real@broker:5672/%2F",
            broker_admin_url="http://eldercare-admin:real@broker:15672",
            simulator_mqtt_url="mqtt://simulator:real@broker:1883",
            api_mqtt_url="mqtt://api:real@broker:1883",
            gateway_mqtt_url="mqtt://gateway:real@broker:1883",
            gateway_amqp_url="amqp://gateway:real@broker:5672/%2F",
        )


def test_production_refuses_a_jwt_secret_shorter_than_32_bytes():
    real = {
        "environment": "production",
        "database_url": "postgresql://eldercare:real@db/eldercare",
        "amqp_url": "amqp://ingest:real@broker:5672/%2F",
        "broker_admin_url": "http://eldercare-admin:real@broker:15672",
        "simulator_mqtt_url": "mqtt://simulator:real@broker:1883",
        "api_mqtt_url": "mqtt://api:real@broker:1883",
        "gateway_mqtt_url": "mqtt://gateway:real@broker:1883",
        "gateway_amqp_url": "amqp://gateway:real@broker:5672/%2F",
        "alerting_community_gateway_secret": "real-community-secret",
        "alerting_family_gateway_secret": "real-family-secret",
        "alerting_gateway_120_secret": "real-120-secret",
    }
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(**real, api_jwt_secret="x" * 31)
    assert Settings(**real, api_jwt_secret="x" * 32).environment == "production"


def test_dev_admin_is_seeded_only_in_development(db, settings):
    assert seed_dev_admin(conn=db, settings=settings) is False  # environment=test
    dev = settings.model_copy(update={"environment": "development"})
    existed = db.execute("SELECT 1 FROM accounts WHERE username = 'admin'").fetchone()
    assert seed_dev_admin(conn=db, settings=dev) is (existed is None)
    assert seed_dev_admin(conn=db, settings=dev) is False
    role = db.execute("SELECT role FROM accounts WHERE username = 'admin'").fetchone()[0]
    assert role == "admin"


def test_create_account_bootstraps_an_admin_who_can_log_in(db, client):
    create_account(conn=db, username="first-admin", password="a-long-password", role="admin")  # noqa: S106
    resp = client.post(
        "/auth/token", data={"username": "first-admin", "password": "a-long-password"}
    )
    assert resp.status_code == 200
    stored = db.execute(
        "SELECT password_hash FROM accounts WHERE username = 'first-admin'"
    ).fetchone()[0]
    assert stored.startswith("$argon2id$") and "a-long-password" not in stored


def test_audit_log_is_for_admins_and_filters_by_resident(client, family_world, bind_band):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    bind_band(rid)
    client.get(f"/residents/{rid}/location/latest?purpose=checking-on-mum", headers=fam.headers)
    refused = client.get(f"/audit?resident_id={rid}", headers=family_world["duty"].headers)
    assert refused.status_code == 403
    rows = client.get(f"/audit?resident_id={rid}", headers=family_world["admin"].headers).json()
    assert [(r["account_id"], r["action"], r["purpose"]) for r in rows["items"]] == [
        (fam.account_id, "location.latest", "checking-on-mum")
    ]


@pytest.mark.parametrize("role", ["community_director", "street_officer"])
def test_grid_scoped_officials_read_their_grids_but_do_not_edit(
    client, family_world, make_actor, role
):
    official = make_actor(role, (family_world["grid_a"], family_world["grid_b"]))
    outsider = make_actor(role, ())
    for rid in (family_world["res_a"], family_world["res_b"]):
        assert client.get(f"/residents/{rid}", headers=official.headers).status_code == 200
        assert client.get(f"/residents/{rid}", headers=outsider.headers).status_code == 404
    edit = client.patch(
        f"/residents/{family_world['res_a']}", json={"low_income": True}, headers=official.headers
    )
    assert edit.status_code == 403


def test_location_read_by_a_disabled_account_is_refused_and_not_audited(
    client, family_world, bind_band, db
):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    bind_band(rid)
    db.execute("UPDATE accounts SET disabled = true WHERE account_id = %s", (fam.account_id,))
    resp = client.get(f"/residents/{rid}/location/latest", headers=fam.headers)
    assert resp.status_code == 401
    audited = db.execute(
        "SELECT count(*) FROM audit_log WHERE account_id = %s", (fam.account_id,)
    ).fetchone()[0]
    assert audited == 0
