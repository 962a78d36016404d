"""Types of values clients send, stated in the OpenAPI document as the server checks them."""

from __future__ import annotations

import re
from typing import Annotated

import annotated_types
from pydantic import AwareDatetime, BeforeValidator

# Ids and id filters: PostgreSQL bigint. A value beyond it is refused with 422 at the edge.
Int64 = Annotated[int, annotated_types.Interval(ge=-(2**63), le=2**63 - 1)]

_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_8601_only(value: object) -> object:
    # pydantic reads a number (or a numeric string such as "0.5") as seconds since 1970.
    if not isinstance(value, str) or not _ISO_8601.match(value):
        raise ValueError("expected an ISO 8601 time with its offset, e.g. 2026-11-23T08:00+08:00")
    return value


# A point in time from a client: ISO 8601 with a UTC offset, nothing else.
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only)]
