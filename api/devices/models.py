"""Shapes of bands, their credentials, status and commands at the edge."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from api.fields import Int64
from eldercare.imei import is_valid_imei

IMEI_PATTERN = r"^[0-9]{15}$"
IMEI_DESCRIPTION = (
    "IMEI: 15 decimal digits, the last the Luhn check digit of the first 14"
    " (eldercare.imei); an IMEI whose check digit is wrong is refused with 422"
)


def _check_digit(value: str) -> str:
    if not is_valid_imei(value):
        raise ValueError("the IMEI's last digit is not the Luhn check digit of the first 14")
    return value


DeviceId = Annotated[
    str,
    Field(pattern=IMEI_PATTERN, description=IMEI_DESCRIPTION),
    AfterValidator(_check_digit),
]


class DeviceProvision(BaseModel):
    device_id: DeviceId
    watch_id: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Za-z]{1,20}$",
        description="id a 4G watch speaks with on the watch gateway (often the IMEI's last 10"
        " digits)",
    )
    watch_utc_offset_min: int | None = Field(
        default=None, ge=-840, le=840, description="how far the watch's clock runs ahead of UTC"
    )


class DeviceRead(BaseModel):
    device_id: str
    resident_id: Int64 | None
    state: Literal["active", "revoked"]
    registered_at: datetime
    provisioned_at: datetime | None
    revoked_at: datetime | None
    watch_id: str | None = None


class ProvisionedDevice(DeviceRead):
    """Returned once: the password is not stored and cannot be shown again."""

    mqtt_username: str
    mqtt_password: str


class DeviceStatus(DeviceRead):
    online: bool | None
    battery: int | None
    charging: bool | None
    last_seen: datetime | None


class BindRequest(BaseModel):
    resident_id: Int64


class LocateCommand(BaseModel):
    type: Literal["locate"]


class ConfigCommand(BaseModel):
    """New reporting intervals (the contract's ranges); either may be left out."""

    type: Literal["config"]
    telemetry_interval_s: int | None = Field(default=None, ge=10, le=3600)
    location_interval_s: int | None = Field(default=None, ge=10, le=86400)

    @model_validator(mode="after")
    def _changes_something(self) -> ConfigCommand:
        if self.telemetry_interval_s is None and self.location_interval_s is None:
            raise ValueError("give telemetry_interval_s, location_interval_s or both")
        return self


def _phone_number(value: str) -> str:
    if not PHONE_RE.fullmatch(value):
        raise ValueError(
            "a phone number is 3 to 20 digits, with an optional leading + (no spaces or dashes)"
        )
    return value


PHONE_RE = re.compile(r"\+?[0-9]{3,20}")  # the contract's (cmd.schema.json $defs.phone)
PhoneNumber = Annotated[
    str,
    Field(examples=["+8613800000001"], description="digits, optional leading +"),
    AfterValidator(_phone_number),
]


class SosNumbersCommand(BaseModel):
    """The numbers the band's SOS button calls, in order, and its centre number (staff editors)."""

    type: Literal["sos_numbers"]
    sos: list[PhoneNumber] = Field(min_length=1, max_length=3)
    centre: PhoneNumber | None = Field(
        default=None, description="the number allowed to configure the band by SMS"
    )


Command = Annotated[LocateCommand | ConfigCommand | SosNumbersCommand, Field(discriminator="type")]


class CommandSent(BaseModel):
    command_id: str
    device_id: str
    type: str
