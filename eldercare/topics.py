"""The bands' MQTT topics and the broker's routing keys for them, built in one place.

The broker (RabbitMQ) carries MQTT publishes on its `amq.topic` exchange and turns the
topic's `/` into the routing key's `.`: `eldercare/v1/{band}/telemetry` arrives as
`eldercare.v1.{band}.telemetry`, which is what queues bind to and permissions match.
Standard library only: the native set-up imports it before any virtualenv exists.
"""

from __future__ import annotations

import re

PREFIX = "eldercare/v1"
UPLINK_KINDS = ("telemetry", "location", "event", "status")
DOWNLINK_KIND = "cmd"
EXCHANGE = "amq.topic"  # where the MQTT plugin publishes and subscribes
ANY_BAND = "+"


def uplink(device_id: str, kind: str) -> str:
    """The topic a band publishes one kind of message on."""
    return f"{PREFIX}/{device_id}/{kind}"


def cmd(device_id: str) -> str:
    """The band's downlink (command) topic."""
    return f"{PREFIX}/{device_id}/{DOWNLINK_KIND}"


def routing_key(topic: str) -> str:
    """The AMQP routing key of an MQTT topic (wildcards `+`/`#` become `*`/`#`)."""
    return topic.replace("/", ".").replace("+", "*")


def topic_of(key: str) -> str:
    """The MQTT topic of a routing key the MQTT plugin produced."""
    return key.replace(".", "/")


def uplink_bindings() -> tuple[str, ...]:
    """Binding keys that route every band's uplink messages to ingest's queue."""
    return tuple(routing_key(uplink(ANY_BAND, kind)) for kind in UPLINK_KINDS)


def key_pattern(band: str, kinds: tuple[str, ...]) -> str:
    """A RabbitMQ topic-permission regex over routing keys: `band` is a regex or `{username}`.

    An empty `kinds` matches nothing (`^$`).
    """
    if not kinds:
        return "^$"
    prefix = re.escape(routing_key(PREFIX) + ".")
    return f"^{prefix}(?:{band})\\.({'|'.join(kinds)})$"


ANY_BAND_PATTERN = r"[^.*#]+|\*"  # one band, or the `*` of a binding over all bands
