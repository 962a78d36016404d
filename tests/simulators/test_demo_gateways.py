"""The demo's stand-in gateways accept what the real dispatcher sends, and only that."""

from __future__ import annotations

import logging
import socket
import threading

import httpx
import pytest
from pydantic import SecretStr

from alerting.dispatcher import Dispatcher
from simulators.gateways import demo_gateways, run_demo_gateways, serve
from tests.support.services import free_port

CHANNEL_OF = {"community": "community_gateway", "family": "family_gateway", "120": "gateway_120"}


@pytest.fixture
def demo_settings(settings):
    ports = {name: free_port() for name in CHANNEL_OF}
    return settings.model_copy(
        update={
            "environment": "development",
            "alerting_community_gateway_url": f"http://127.0.0.1:{ports['community']}/notify",
            "alerting_family_gateway_url": f"http://127.0.0.1:{ports['family']}/notify",
            "alerting_gateway_120_url": f"http://127.0.0.1:{ports['120']}/dispatch",
        }
    )


@pytest.fixture
def running(demo_settings):
    gateways = demo_gateways(demo_settings)
    servers = [serve(g) for g in gateways]
    yield {g.name: g for g in gateways}
    for server in servers:
        server.shutdown()
        server.server_close()


def test_every_signed_notice_from_the_dispatcher_is_delivered(demo_settings, running, redis_client):
    dispatcher = Dispatcher(demo_settings, redis_client)
    for name, channel in CHANNEL_OF.items():
        outcome = dispatcher.send(channel, f"key-{name}", {"kind": "sos", "alert_id": 7})
        assert outcome.delivered, (name, outcome)
        assert running[name].accepted == [{"kind": "sos", "alert_id": 7}]


def test_a_wrong_signature_is_refused_like_a_real_gateway_would(
    demo_settings, running, redis_client
):
    wrong = demo_settings.model_copy(
        update={"alerting_gateway_120_secret": SecretStr("not-the-secret")}
    )
    outcome = Dispatcher(wrong, redis_client).send("gateway_120", "k", {"kind": "sos"})
    assert not outcome.delivered and not outcome.retry and outcome.error == "HTTP 401"
    assert running["120"].accepted == [] and running["120"].refused == 1


def test_gateways_off_this_machine_are_never_stood_in_for(demo_settings):
    remote = demo_settings.model_copy(
        update={"alerting_gateway_120_url": "https://120.example.cn/dispatch"}
    )
    assert sorted(g.name for g in demo_gateways(remote)) == ["community", "family"]


def test_refuses_to_run_outside_development(demo_settings):
    stop = threading.Event()
    stop.set()
    for environment in ("test", "production"):
        settings = demo_settings.model_copy(update={"environment": environment})
        assert run_demo_gateways(settings, stop) == 2
    url = demo_settings.alerting_gateway_120_url
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, content=b"{}")


def test_a_port_in_use_is_left_to_what_listens_there(demo_settings, caplog):
    caplog.set_level(logging.INFO, logger="simulators.gateways")
    taken = demo_gateways(demo_settings)[0]
    with socket.socket() as sock:
        sock.bind((taken.host, taken.port))
        sock.listen()
        stop = threading.Event()
        stop.set()
        assert run_demo_gateways(demo_settings, stop) == 0
    assert f"demo community gateway not started on port {taken.port}" in caplog.text
    assert "demo 120 gateway listening" in caplog.text


def test_the_log_line_names_the_notice_but_none_of_its_personal_data(
    running, redis_client, demo_settings, caplog
):
    caplog.set_level(logging.INFO, logger="simulators.gateways")
    notice = {
        "target": "grid_worker",
        "alert": {"alert_id": 9, "rule": "fall", "resident_name": "王秀英"},
    }
    assert Dispatcher(demo_settings, redis_client).send("community_gateway", "k", notice).delivered
    assert "target=grid_worker rule=fall alert_id=9" in caplog.text
    assert "王秀英" not in caplog.text
