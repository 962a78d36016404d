"""PostgreSQL connections (psycopg 3)."""

from __future__ import annotations

import psycopg

from eldercare.settings import Settings


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """Open one connection to the project's database."""
    return psycopg.connect(
        settings.database_url.get_secret_value(),
        autocommit=autocommit,
        application_name="eldercare",
    )
