"""The API's side of the broker: band credentials in its password file, and downlinks."""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from api.errors import ServiceUnavailable
from eldercare.broker_files import read_password_file, reload_broker, write_password_file
from eldercare.settings import Settings

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 5.0


@contextmanager
def _locked_passwd(state_dir: Path) -> Iterator[Path]:
    """The password file, locked against other writers in this host."""
    with open(state_dir / "passwd.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield state_dir / "passwd"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def set_band_credentials(*, state_dir: Path, device_id: str, password_hash: str) -> None:
    """Let a band log in with the password of `password_hash`, effective at once."""
    with _locked_passwd(state_dir) as passwd:
        entries = read_password_file(passwd)
        entries[device_id] = password_hash
        write_password_file(passwd, entries)
    if not reload_broker(state_dir):
        log.warning(
            "broker of %s not running; band %s takes effect at its start", state_dir, device_id
        )


def remove_band_credentials(*, state_dir: Path, device_id: str) -> None:
    """Stop a band from logging in, effective at once."""
    with _locked_passwd(state_dir) as passwd:
        entries = read_password_file(passwd)
        if entries.pop(device_id, None) is not None:
            write_password_file(passwd, entries)
    reload_broker(state_dir)


def publish_command(*, settings: Settings, device_id: str, payload: dict) -> None:
    """Publish one downlink command (QoS 1) with the API's account; blocks until PUBACK."""
    target = settings.api_mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    client.username_pw_set(target.username, target.password)
    try:
        client.connect(target.host, target.port, keepalive=10)
        client.loop_start()
        info = client.publish(f"eldercare/v1/{device_id}/cmd", json.dumps(payload), qos=1)
        info.wait_for_publish(timeout=PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise ServiceUnavailable("broker did not acknowledge the command")
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("command to band %s not sent: %s", device_id, exc)
        raise ServiceUnavailable("broker unavailable") from None
    finally:
        client.loop_stop()
        client.disconnect()
