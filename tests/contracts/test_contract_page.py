"""The snippets vendors read in CONTRACT.md agree with the schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eldercare.imei import is_valid_imei
from tests.contracts.reference import validator

CONTRACT = Path(__file__).resolve().parents[2] / "firmware-contracts" / "CONTRACT.md"


def json_blocks() -> list[dict]:
    text = CONTRACT.read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def kind_of(message: dict) -> str:
    for key, kind in (("samples", "telemetry"), ("fixes", "location"), ("online", "status")):
        if key in message:
            return kind
    return "event"


@pytest.mark.parametrize("message", json_blocks(), ids=kind_of)
def test_every_json_example_on_the_page_is_valid(message: dict) -> None:
    validator(kind_of(message)).validate(message)


def test_every_command_on_the_page_is_valid() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    commands = [json.loads(c) for c in re.findall(r"`(\{\"v\":1,\"id\":[^`]*\})`", text)]
    assert {c["type"] for c in commands} == {"sos_ack", "locate", "config", "sos_numbers"}
    for command in commands:
        validator("cmd").validate(command)


def test_the_worked_imei_example_is_valid() -> None:
    imeis = re.findall(r"IMEI `(\d{15})`", CONTRACT.read_text(encoding="utf-8"))
    assert imeis and all(is_valid_imei(i) for i in imeis)
