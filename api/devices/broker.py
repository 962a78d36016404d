"""The API's side of the broker: closing a revoked band's connections, and downlinks.

A band's credential is its `devices` row, which the broker's auth service reads at each
login (`eldercare.broker_auth`): provisioning needs no call to the broker.
"""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from api.errors import ServiceUnavailable
from eldercare import topics
from eldercare.broker import BrokerAdmin, BrokerError
from eldercare.settings import Settings

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 5.0


def _admin(settings: Settings) -> BrokerAdmin:
    return BrokerAdmin(settings.broker_admin_url.get_secret_value())


def disconnect_band(*, settings: Settings, device_id: str) -> None:
    """Close a band's live connections (after its revocation is committed, so it stays out)."""
    try:
        _admin(settings).close_connections_of(device_id)
    except BrokerError as exc:
        log.warning("revoked band %s not disconnected: %s", device_id, exc.reason)
        raise ServiceUnavailable("band revoked; broker unavailable to disconnect it") from None


def publish_command(*, settings: Settings, device_id: str, payload: dict) -> None:
    """Publish one downlink command (QoS 1) with the API's account; blocks until PUBACK."""
    target = settings.api_mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    client.username_pw_set(target.username, target.password)
    try:
        client.connect(target.host, target.port, keepalive=10)
        client.loop_start()
        info = client.publish(topics.cmd(device_id), json.dumps(payload), qos=1)
        info.wait_for_publish(timeout=PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise ServiceUnavailable("broker did not acknowledge the command")
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("command to band %s not sent: %s", device_id, exc)
        raise ServiceUnavailable("broker unavailable") from None
    finally:
        client.loop_stop()
        client.disconnect()
