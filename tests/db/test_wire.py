import json
from datetime import UTC, datetime

import pytest

from db.errors import RecordDecodeError
from db.ids import uuid7
from db.topics import RECORD_MAX_BYTES
from db.wire import decode_dlt, decode_task, dlt_value, encode_value, header_value


def test_decodes_value_and_correlation_header():
    task_id = str(uuid7())
    value = json.dumps({"id": task_id, "type": "echo", "priority": 7}).encode()
    record = decode_task(value, [("correlation_id", b"abc-1")])
    assert (record.task_id, record.type, record.priority, record.correlation_id) == (
        task_id,
        "echo",
        7,
        "abc-1",
    )


def test_missing_header_gives_no_correlation_id():
    value = json.dumps({"id": str(uuid7()), "type": "echo"}).encode()
    record = decode_task(value, None)
    assert record.correlation_id is None
    assert record.priority == 0


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"not json",
        b"[1]",
        b'{"type": "echo"}',
        b'{"id": "123", "type": "echo"}',
        json.dumps({"id": "00000000-0000-4000-8000-000000000000", "type": "echo"}).encode(),
    ],
)
def test_bad_records_raise_decode_error(value):
    with pytest.raises(RecordDecodeError):
        decode_task(value, [])


def test_bad_type_or_priority_raise_decode_error():
    task_id = str(uuid7())
    with pytest.raises(RecordDecodeError, match="type"):
        decode_task(json.dumps({"id": task_id, "type": ""}).encode(), [])
    with pytest.raises(RecordDecodeError, match="priority"):
        decode_task(json.dumps({"id": task_id, "type": "echo", "priority": "9"}).encode(), [])


def test_header_value_takes_the_last_and_skips_undecodable():
    headers = [("correlation_id", b"one"), ("other", b"x"), ("correlation_id", b"two")]
    assert header_value(headers, "correlation_id") == "two"
    assert header_value([("correlation_id", b"\xff")], "correlation_id") is None


def _failed_row(payload: dict) -> dict:
    task_id = uuid7()
    return {
        "id": task_id,
        "created_at": datetime.now(UTC),
        "type": "fail",
        "payload": payload,
        "priority": 0,
        "tenant": None,
        "last_error": "PermanentError: no",
        "error_type": "PermanentError",
        "attempts": 1,
        "max_attempts": 4,
        "redrive_count": 0,
        "finished_at": datetime.now(UTC),
        "correlation_id": "c",
    }


def test_a_dlt_record_that_fits_carries_the_payload():
    value = dlt_value(_failed_row({"text": "é" * 100}))
    assert value["payload"] == {"text": "é" * 100}
    assert "payload_omitted" not in value


def test_a_dlt_record_too_large_for_kafka_leaves_the_payload_out_and_points_to_the_row():
    # 600,000 non-ASCII characters: 1.2 MB of UTF-8, 3.6 MB had each become a \\uXXXX escape.
    row = _failed_row({"text": "ж" * 600_000})
    value = dlt_value(row)
    encoded = encode_value(value)
    assert len(encoded) <= RECORD_MAX_BYTES
    assert value["payload"] is None
    assert value["payload_omitted"]["bytes"] > 1_000_000
    assert value["row"] == {"id": str(row["id"]), "created_at": row["created_at"].isoformat()}
    assert decode_dlt(encoded).task_id == str(row["id"])


def test_record_values_are_utf8_not_escaped():
    assert encode_value({"a": "ж"}) == '{"a":"ж"}'.encode()
