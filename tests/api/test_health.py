"""The health route: what a load balancer or container check asks before sending traffic."""

from __future__ import annotations

import socket

from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app


def test_health_is_ok_when_database_and_redis_answer(client):
    resp = client.get("/health")  # no token: it reveals nothing about residents
    assert resp.status_code == 200 and resp.json() == {"database": "ok", "redis": "ok"}


def test_health_is_503_naming_what_is_unreachable(api_settings):
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broken = api_settings.model_copy(update={"redis_url": SecretStr(f"redis://127.0.0.1:{port}/0")})
    with TestClient(create_app(broken)) as client:
        resp = client.get("/health")
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert error["code"] == "unavailable"
    assert (error["detail"]["database"], error["detail"]["redis"]) == ("ok", "unreachable")
