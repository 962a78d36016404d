"""The gateway's AMQP account has the topic permissions its MQTT account has: bands' uplink
kinds only, never a command and never a key outside the bands' topics."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from eldercare import topics


def publish(url: str, routing_key: str) -> None:
    """Publish one persistent message with confirms; raises if the broker refuses it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            topics.EXCHANGE, routing_key, b"{}", pika.BasicProperties(delivery_mode=2)
        )
    finally:
        if connection.is_open:
            connection.close()


def test_gateway_account_publishes_uplinks_and_cannot_forge_commands(own_broker, new_band_ids):
    # Its own broker: these bodies are not readings, and must not reach the session's ingest.
    (band,) = new_band_ids(1)
    url = own_broker.amqp_url("gateway")
    for kind in topics.UPLINK_KINDS:
        publish(url, topics.routing_key(topics.uplink(band, kind)))
    for forged in (topics.cmd(band), "eldercare.v1.other", f"elsewhere.{band}.telemetry"):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            publish(url, topics.routing_key(forged))
        assert refused.value.reply_code == 403
