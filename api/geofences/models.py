"""Geofences at the edge: GeoJSON circles (Point + radius) and polygons, with a schedule."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.json_schema import JsonDict
from shapely.geometry import Polygon as ShapelyPolygon

from api.fields import Int64

Datum = Literal["wgs84", "gcj02"]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Position = tuple[Lon, Lat]


def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a schedule time is the resident's local time: no UTC offset (22:00)")
    return value


# The resident's wall-clock time. OpenAPI's `format: time` means RFC 3339, which requires an
# offset, so the schema states the accepted form itself (the fuzzer found the mismatch).
LocalTime = Annotated[
    time,
    AfterValidator(_without_offset),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "examples": ["22:00"],
        }
    ),
]


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: Position


class PolygonGeometry(BaseModel):
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[Position], Field(min_length=4, max_length=500)]] = Field(
        min_length=1,
        max_length=10,  # fences stored before holes were refused may read back with them
        description="The outer ring only: polygon holes are not supported.",
    )

    @model_validator(mode="after")
    def _closed_and_simple(self) -> PolygonGeometry:
        for ring in self.coordinates:
            if ring[0] != ring[-1]:
                raise ValueError("each polygon ring must end where it starts")
        if not ShapelyPolygon(self.coordinates[0], self.coordinates[1:]).is_valid:
            raise ValueError("polygon is not simple (self-intersecting or degenerate)")
        return self


Geometry = Annotated[PointGeometry | PolygonGeometry, Field(discriminator="type")]


class Schedule(BaseModel):
    """Local time of the resident; `until` before `from` spans midnight (22:00-06:00).

    The two differ: an always-active fence has no schedule.
    """

    active_from: LocalTime
    active_until: LocalTime


# A circle is a Point with a radius; a Polygon has none (the document says so, as the
# validator below checks).
_RADIUS_BY_SHAPE: JsonDict = {
    "anyOf": [
        {
            "properties": {
                "geometry": {"properties": {"type": {"const": "Point"}}},
                "radius_m": {"type": "number"},
            },
            "required": ["radius_m"],
        },
        {
            "properties": {
                "geometry": {"properties": {"type": {"const": "Polygon"}}},
                "radius_m": {"type": "null"},
            }
        },
    ]
}


class GeofenceWrite(BaseModel):
    model_config = ConfigDict(json_schema_extra=_RADIUS_BY_SHAPE)

    name: str = Field(min_length=1, max_length=100)
    crs: Datum = "wgs84"
    geometry: Geometry
    radius_m: float | None = Field(
        default=None,
        gt=0,
        le=50_000,
        description="metres; required for a Point (a circle), absent or null for a Polygon",
    )
    schedule: Schedule | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _radius_for_circles_only(self) -> GeofenceWrite:
        if (self.geometry.type == "Point") != (self.radius_m is not None):
            raise ValueError("a Point geometry needs radius_m; a Polygon must not have one")
        return self

    # Checked on writes only, so fences stored before these checks still read back.
    @model_validator(mode="after")
    def _what_the_engine_honours(self) -> GeofenceWrite:
        if self.geometry.type == "Polygon" and len(self.geometry.coordinates) > 1:
            raise ValueError("polygon holes are not supported; draw the outer ring only")
        if self.schedule and self.schedule.active_from == self.schedule.active_until:
            raise ValueError(
                "a schedule must end at another time than it starts;"
                " leave the schedule out for a fence that is always active"
            )
        return self


class GeofenceRead(BaseModel):
    geofence_id: Int64
    resident_id: Int64
    name: str
    datum: Datum
    input_crs: Datum
    geometry: Geometry
    radius_m: float | None
    schedule: Schedule | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
