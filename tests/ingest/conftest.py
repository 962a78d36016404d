from __future__ import annotations

import pytest

from ingest.service import IngestService
from tests.support.mqtt import Publisher


@pytest.fixture
def ingest_service(settings):
    """An ingest service running in this process, stopped cleanly after the test.

    Every test reuses the session's client id: a new id would leave a persistent session
    behind in the shared-subscription group, and the broker would queue messages for it.
    """
    service = IngestService(settings)
    flusher = service.start()
    from tests.support.mqtt import wait_until

    wait_until(lambda: service.generation > 0 and service.client.is_connected(), 10)
    yield service
    service.stop(flusher)


@pytest.fixture
def publisher(broker):
    pub = Publisher(broker.url("simulator"))
    yield pub
    pub.close()
