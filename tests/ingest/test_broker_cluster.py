"""A three-node broker cluster: killing the node that bands and ingest use loses nothing;
both move to the survivors, and the replicated quorum queue carries on."""

from __future__ import annotations

import time

import pytest

from eldercare import topics
from eldercare.broker import DEV_SERVICE_ACCOUNTS
from eldercare.imei import make_imei
from tests.ingest.test_broker_faults import publish_stream, tally, wait_stored
from tests.ingest.test_broker_security import band_client, connect_result
from tests.ingest.test_crash_safety import wait_until_ingesting
from tests.support.mqtt import CountingPublisher, Publisher, wait_until
from tests.support.processes import spawn_service
from tests.support.services import free_port, throwaway_cluster
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path_factory, database_url):
    nodes = throwaway_cluster(tmp_path_factory.mktemp("cluster"), database_url, size=3)
    yield nodes
    for node in nodes:
        node.kill()
        node.close_auth()


def node_of_connection(admin, connection_name: str) -> str:
    for connection in admin.connections():
        if connection.get("client_properties", {}).get("connection_name") == connection_name:
            return connection["node"]
    return ""


def test_killing_a_node_mid_stream_loses_nothing_and_clients_move_to_the_survivors(
    settings, cluster, db, new_band_ids, tmp_path
):
    bands = new_band_ids(20)
    (probe,) = new_band_ids(1)
    urls = " ".join(node.amqp_url("ingest") for node in cluster)
    own = cluster[0].settings_for(settings, amqp_url=urls, ingest_client_id="ingest-cluster")
    ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest.log")
    try:
        probe_publisher = Publisher(cluster[0].url("simulator"))
        wait_until_ingesting(probe_publisher, db, probe)
        probe_publisher.close()
        admin = cluster[0].admin
        ingest_node = wait_until(lambda: node_of_connection(admin, "ingest-cluster"), 10)
        victim = next(node for node in cluster if node.node.node_name == ingest_node)
        survivors = [node for node in cluster if node is not victim]
        # The bands are on the same node as ingest: both have to move.
        publisher = CountingPublisher(
            victim.url("simulator"), other_ports=tuple(node.port for node in survivors)
        )
        try:
            published = publish_stream(publisher, bands, 150, {1000: victim.kill})
            deadline = time.monotonic() + 60
            while publisher.pending() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert publisher.pending() == 0, (
                f"{publisher.pending()} of {publisher.sent} never acknowledged; connected "
                f"{publisher.client.is_connected()} to port {publisher.ports[0]} "
                f"(victim {victim.port}); nodes {survivors[0].admin.running_nodes()}"
            )
            stored = wait_stored(lambda: db, bands, publisher.acked, timeout_s=90)
            outcome = tally(publisher.acked, published, stored)
            assert outcome == {"lost": 0, "duplicated": 0, "unexpected": 0}
            assert len(publisher.acked) >= 2900  # the bands carried on through the survivors
            assert publisher.ports[0] != victim.port
            survivor_admin = survivors[0].admin
            moved_to = node_of_connection(survivor_admin, "ingest-cluster")
            assert moved_to in {node.node.node_name for node in survivors}
            # A band logs in on a survivor, through that node's auth service.
            survivors[0].add_band(probe, "probe-secret")
            band = band_client(survivors[0], probe, "probe-secret")
            assert connect_result(band, survivors[0].port) == 0
            band.loop_stop()
            band.disconnect()
        finally:
            publisher.close()
    finally:
        ingest.terminate()
        ingest.wait(timeout=30)


def test_publisher_moves_past_a_dead_node_to_a_live_one(broker):
    """The cause of a flake above: after its node died, the publisher rotated onto a node that
    refused the TCP connection, where paho reports no disconnect, only a failed connect; it
    then retried that dead node for ever and its PUBACKs never came."""
    node = TcpProxy(broker.port)  # the node that dies
    already_dead = free_port()
    publisher = CountingPublisher(
        f"mqtt://api:{DEV_SERVICE_ACCOUNTS['api']}@127.0.0.1:{node.port}",
        other_ports=(already_dead, broker.port),
    )
    try:
        # A command topic: nothing of this test reaches the session's ingest queue.
        publisher.publish(topics.cmd(make_imei(1)), b"{}", key=0)
        wait_until(lambda: publisher.acked == {0}, timeout_s=10)
        node.kill()
        for key in range(1, 11):
            publisher.publish(topics.cmd(make_imei(1)), b"{}", key=key)
        wait_until(lambda: publisher.pending() == 0, timeout_s=30)
        assert publisher.acked == set(range(11))
        assert publisher.ports[0] == broker.port
    finally:
        publisher.close()
