"""The firmware contract's examples are well-formed and agree with its schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.contracts.reference import KINDS, evaluate, load_schema, validator

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "firmware-contracts" / "examples"
UPLINK_REASONS = {"malformed_json", "schema", "out_of_range", "clock_skew"}
EXAMPLE_PATHS = sorted(EXAMPLES_DIR.glob("*/*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def raw_bytes(example: dict) -> bytes:
    if "payload_raw" in example:
        return example["payload_raw"].encode("utf-8")
    return json.dumps(example["payload"]).encode("utf-8")


def example_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def uplink_examples() -> list[Path]:
    return [p for p in EXAMPLE_PATHS if p.parent.name != "cmd"]


def uplink_examples_where(predicate) -> list[Path]:
    return [p for p in uplink_examples() if predicate(load(p))]


def is_valid_example(example: dict) -> bool:
    return not example["expect"]["dead_letters"]


def is_schema_only_rejection(example: dict) -> bool:
    return set(example["expect"]["dead_letters"]) == {"schema"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_schema_is_a_valid_draft_2020_12_schema(kind: str) -> None:
    schema = load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_there_are_examples_for_every_kind_and_reason() -> None:
    examples = [load(p) for p in EXAMPLE_PATHS]
    assert {e["kind"] for e in examples} == set(KINDS)
    reasons = {r for e in examples if e["kind"] != "cmd" for r in e["expect"]["dead_letters"]}
    assert reasons == UPLINK_REASONS
    for kind in ("telemetry", "location", "event", "status"):
        kind_examples = [e for e in examples if e["kind"] == kind]
        assert any(not e["expect"]["dead_letters"] for e in kind_examples), kind
        assert any(e["expect"]["dead_letters"] for e in kind_examples), kind


def test_every_event_type_and_service_has_a_valid_example() -> None:
    valid = [
        e["payload"]
        for p in EXAMPLE_PATHS
        if p.parent.name == "event"
        for e in [load(p)]
        if not e["expect"]["dead_letters"]
    ]
    types = set(load_schema("event")["properties"]["type"]["enum"])
    services = set(load_schema("event")["properties"]["service"]["enum"])
    assert {p["type"] for p in valid} == types
    assert {p["service"] for p in valid if p["type"] == "service_request"} == services


@pytest.mark.parametrize("path", EXAMPLE_PATHS, ids=example_id)
def test_example_is_well_formed(path: Path) -> None:
    example = load(path)
    assert path.parent.name == example["kind"]
    assert isinstance(example["description"], str) and example["description"]
    assert isinstance(example["server_now_ms"], int)
    assert ("payload" in example) != ("payload_raw" in example)
    assert isinstance(example.get("payload", {}), dict)  # non-objects go in payload_raw
    assert isinstance(example.get("payload_raw", ""), str)
    expected_keys = {"description", "kind", "server_now_ms", "expect"}
    assert set(example) - {"payload", "payload_raw"} == expected_keys
    if example["kind"] == "cmd":
        assert set(example["expect"]) == {"valid"} and "payload" in example
        return
    assert set(example["expect"]) == {"stored", "dead_letters"}
    assert example["expect"]["stored"] >= 0
    assert set(example["expect"]["dead_letters"]) <= UPLINK_REASONS


@pytest.mark.parametrize("path", uplink_examples_where(is_valid_example), ids=example_id)
def test_valid_example_validates_against_its_schema(path: Path) -> None:
    example = load(path)
    validator(example["kind"]).validate(example["payload"])


@pytest.mark.parametrize("path", uplink_examples_where(is_schema_only_rejection), ids=example_id)
def test_schema_only_rejection_fails_schema_validation(path: Path) -> None:
    example = load(path)
    message = json.loads(raw_bytes(example))
    assert not validator(example["kind"]).is_valid(message)


@pytest.mark.parametrize("path", uplink_examples(), ids=example_id)
def test_expectation_matches_the_reference_reading(path: Path) -> None:
    example = load(path)
    outcome = evaluate(example["kind"], raw_bytes(example), example["server_now_ms"])
    assert outcome.stored == example["expect"]["stored"]
    assert outcome.dead_letters == example["expect"]["dead_letters"]


CMD_EXAMPLES = [p for p in EXAMPLE_PATHS if p.parent.name == "cmd"]


@pytest.mark.parametrize("path", CMD_EXAMPLES, ids=example_id)
def test_cmd_example_validity_matches_schema(path: Path) -> None:
    example = load(path)
    assert validator("cmd").is_valid(example["payload"]) == example["expect"]["valid"]
