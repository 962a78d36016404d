"""Logging set-up shared by the services."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Send structured-ish lines to stderr; values of health or location never go in messages."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # pika narrates every connection step at INFO; ingest logs what matters itself.
    logging.getLogger("pika").setLevel(logging.WARNING)
