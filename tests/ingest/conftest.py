from __future__ import annotations

import pytest

from ingest.worker import IngestService
from tests.support.mqtt import Publisher


@pytest.fixture
def ingest_service(settings):
    """An ingest service running in this process (consuming the session's queue), stopped
    cleanly after the test."""
    service = IngestService(settings)
    flusher = service.start()
    from tests.support.mqtt import wait_until

    wait_until(lambda: service.is_connected(), 10)
    yield service
    service.stop(flusher)


@pytest.fixture
def publisher(broker):
    pub = Publisher(broker.url("simulator"))
    yield pub
    pub.close()
