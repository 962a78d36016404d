"""Fixtures over real services: a fresh TimescaleDB database, Redis and a project broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from eldercare.imei import make_imei
from eldercare.migrate import apply_all
from eldercare.registry import register_devices
from eldercare.settings import Settings
from tests.support import services
from tests.support.redis_cluster import throwaway_redis_cluster


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        return services.postgres_admin_url()
    except services.ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    url = services.create_database(postgres_admin_url)
    with psycopg.connect(url) as conn:
        apply_all(conn)
    yield url
    services.drop_database(postgres_admin_url, url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        return services.redis_url()
    except services.ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway 3-node Redis Cluster (started on first use)."""
    try:
        with throwaway_redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
            yield url
    except services.ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def _started_broker(tmp_path_factory: pytest.TempPathFactory, name: str, database_url: str):
    instance = services.ThrowawayBroker(
        state_dir=tmp_path_factory.mktemp(name), database_url=database_url
    )
    try:
        instance.start()
    except services.ServiceUnavailable as exc:
        instance.close_auth()
        pytest.fail(str(exc), pytrace=False)
    return instance


@pytest.fixture(scope="session")
def broker(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[services.ThrowawayBroker]:
    """The session's broker; bands log in with their rows in the session database."""
    instance = _started_broker(tmp_path_factory, "broker", database_url)
    yield instance
    instance.stop()
    instance.close_auth()


@pytest.fixture
def own_broker(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[services.ThrowawayBroker]:
    """A broker of this test's own, for tests that restart or crash it."""
    instance = _started_broker(tmp_path_factory, "own-broker", database_url)
    yield instance
    instance.kill()
    instance.close_auth()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, broker: services.ThrowawayBroker) -> Settings:
    """Settings pointing every service at the test instances."""
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"test-{uuid.uuid4().hex[:8]}:",
        amqp_url=broker.amqp_url("ingest"),
        simulator_mqtt_url=broker.url("simulator"),
        api_mqtt_url=broker.url("api"),
        gateway_mqtt_url=broker.url("gateway"),
        gateway_amqp_url=broker.amqp_url("gateway"),
        broker_admin_url=broker.node.admin_url,
        ingest_client_id=f"ingest-test-{uuid.uuid4().hex[:8]}",
        ingest_metrics_port=0,
        alerting_http_port=0,
    )


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


_serials = iter(range(uuid.uuid4().int % 500_000, 10**6))


@pytest.fixture
def new_band_ids(db: psycopg.Connection):
    """Factory: register `n` fresh bands and return their IMEIs."""

    def make(n: int = 1) -> list[str]:
        ids = [make_imei(next(_serials)) for _ in range(n)]
        register_devices(db, ids)
        return ids

    return make


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def own_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A migrated database of this test's own, for tests that drop chunks or move watermarks."""
    url = services.create_database(postgres_admin_url, prefix="eldercare_own")
    with psycopg.connect(url) as conn:
        apply_all(conn)
    yield url
    services.drop_database(postgres_admin_url, url)
