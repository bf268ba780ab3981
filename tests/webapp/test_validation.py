import json

import pytest

from celery_tasks.catalog import CATALOG
from webapp.errors import BadRequestError, ValidationError
from webapp.validation import Limits, correlation_id_from, parse_json, parse_submission

LIMITS = Limits(default_max_attempts=4, max_attempts_limit=10)


def test_payload_as_json_string_defaults_type_to_action():
    body = {"payload": '{"action": "process_data"}'}
    new = parse_submission(body, CATALOG, LIMITS)
    assert new.type == "process_data"
    assert new.payload == {"action": "process_data"}
    assert new.max_attempts == 4
    assert new.priority == 0


def test_payload_as_object_with_explicit_type():
    new = parse_submission({"type": "echo", "payload": {"a": [1, 2]}}, CATALOG, LIMITS)
    assert (new.type, new.payload) == ("echo", {"a": [1, 2]})


def test_unknown_type_is_rejected_with_known_types():
    with pytest.raises(ValidationError) as err:
        parse_submission({"type": "nope", "payload": {}}, CATALOG, LIMITS)
    assert "unknown task type" in err.value.detail
    assert "process_data" in err.value.extra["known_types"]


def test_missing_type_and_action_is_rejected():
    with pytest.raises(ValidationError, match="type is required"):
        parse_submission({"payload": {"x": 1}}, CATALOG, LIMITS)


@pytest.mark.parametrize("payload", ["[1, 2]", "3", '"text"', [1], 5, None, "{not json"])
def test_non_object_payloads_are_rejected(payload):
    with pytest.raises(ValidationError):
        parse_submission({"type": "echo", "payload": payload}, CATALOG, LIMITS)


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError, match="unknown field"):
        parse_submission({"type": "echo", "colour": "red"}, CATALOG, LIMITS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 10),
        ("priority", -1),
        ("priority", "1"),
        ("priority", True),
        ("max_attempts", 0),
        ("max_attempts", 11),
        ("max_attempts", 2.5),
    ],
)
def test_out_of_range_numbers_are_rejected(field, value):
    with pytest.raises(ValidationError, match=field):
        parse_submission({"type": "echo", field: value}, CATALOG, LIMITS)


def test_handler_validator_runs_at_submission():
    with pytest.raises(ValidationError, match="seconds"):
        parse_submission({"type": "sleep", "payload": {"seconds": -1}}, CATALOG, LIMITS)


def test_non_object_body_is_rejected():
    with pytest.raises(ValidationError):
        parse_submission([{"type": "echo"}], CATALOG, LIMITS)


@pytest.mark.parametrize("raw", [b"{bad", b"", b"\xff\xfe", b'{"a": NaN}', b"[Infinity]"])
def test_malformed_json_is_a_bad_request(raw):
    with pytest.raises(BadRequestError):
        parse_json(raw)


def test_deeply_nested_json_is_rejected():
    raw = ("[" * 40 + "]" * 40).encode()
    with pytest.raises(BadRequestError, match="nested"):
        parse_json(raw)


def test_nul_characters_are_rejected():
    with pytest.raises(ValidationError, match="U\\+0000"):
        parse_json(json.dumps({"payload": {"a": "x\u0000y"}}).encode())


def test_correlation_id_keeps_safe_tokens_and_replaces_others():
    assert correlation_id_from("test-123") == "test-123"
    generated = correlation_id_from("bad value\n<script>")
    assert generated != "bad value\n<script>"
    assert len(generated) == 32
    assert correlation_id_from(None) != correlation_id_from(None)
