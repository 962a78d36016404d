"""PostgreSQL connections (psycopg 3)."""

from __future__ import annotations

from typing import TypeVar

import psycopg

from eldercare.settings import Settings

Row = TypeVar("Row")


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """Open one connection to the project's database."""
    return psycopg.connect(
        settings.database_url.get_secret_value(),
        autocommit=autocommit,
        application_name="eldercare",
    )


def returned_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row a statement must produce: an INSERT/UPDATE ... RETURNING that ran, or a SELECT
    of a row the schema or the same transaction guarantees (RuntimeError if it is missing)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("a statement that must produce a row produced none")
    return row
