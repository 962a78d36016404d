"""The connection type every API service takes: async psycopg with dict rows."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow

DbConn = AsyncConnection[DictRow]
