import json

import pytest

from db.errors import RecordDecodeError
from db.ids import uuid7
from db.wire import decode_task, header_value


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
