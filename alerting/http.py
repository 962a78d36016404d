"""The alerting process's HTTP server: `/health`, `/metrics`, and providers' receipts.

`POST /receipts/<provider>/<kind>/<token>` (aliyun/sms, aliyun/voice, tencent/sms) takes a
provider's delivery receipts; the token (ELDERCARE_ALERTING_RECEIPT_TOKEN) is part of the URL
registered with the provider, since providers do not sign their pushes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

import orjson
import psycopg
from prometheus_client import CollectorRegistry

from alerting.channels import receipts
from eldercare.settings import Settings
from eldercare.status_http import NOT_FOUND, StatusServer, stores_unavailable

log = logging.getLogger(__name__)


class AlertingHttp:
    """Serves health, metrics and receipts on settings.alerting_http_host:port."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry, clock: Callable[[], datetime]
    ):
        self.settings = settings
        self.clock = clock
        self.token = settings.alerting_receipt_token.get_secret_value()
        self.server = StatusServer(
            host=settings.alerting_http_host,
            port=settings.alerting_http_port,
            registry=registry,
            health=partial(stores_unavailable, settings),
            post=self.receive,
        )

    def start(self) -> int:
        """Start serving in a thread; return the port."""
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def receive(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Handle a receipts push; (HTTP status, answer body as the provider expects it)."""
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "receipts" or parts[1] not in receipts.ANSWERS:
            return NOT_FOUND
        _, provider, kind, token = parts
        if not self.token or not hmac.compare_digest(token.encode(), self.token.encode()):
            return NOT_FOUND
        try:
            found = receipts.parse(provider, kind, orjson.loads(body))
        except (orjson.JSONDecodeError, receipts.BadReceipt) as exc:
            return 400, orjson.dumps({"detail": str(exc)})
        try:
            with psycopg.connect(
                self.settings.database_url.get_secret_value(), autocommit=True
            ) as conn:
                receipts.apply(conn, found, now=self.clock())
        except psycopg.Error:
            log.exception("receipts from %s/%s could not be recorded", provider, kind)
            return 503, b'{"detail":"try again"}'  # the provider pushes again
        return 200, orjson.dumps(receipts.ANSWERS[provider])
