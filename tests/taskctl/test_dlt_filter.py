import json
from datetime import UTC, datetime

import pytest

from db.errors import RecordDecodeError
from db.wire import decode_dlt
from taskctl.dlt_topic import DltFilter, parse_payload_filter


def record(**overrides):
    body = {
        "id": "01a22f60-3164-706d-baf4-54dd4d3f589e",
        "type": "fail",
        "error": "boom",
        "error_type": "PermanentError",
        "attempts": 1,
        "failed_at": "2026-12-01T10:00:00+00:00",
        "correlation_id": "c",
        "payload": {"batch": "b1", "n": 2, "pick": True},
    }
    body.update(overrides)
    return decode_dlt(json.dumps(body).encode())


def test_empty_filter_matches_everything():
    assert DltFilter().matches(record())


def test_each_filter_narrows():
    r = record()
    assert DltFilter(types=frozenset({"fail"})).matches(r)
    assert not DltFilter(types=frozenset({"echo"})).matches(r)
    assert not DltFilter(error_types=frozenset({"RetryableError"})).matches(r)
    assert DltFilter(since=datetime(2026, 12, 1, 9, tzinfo=UTC)).matches(r)
    assert not DltFilter(since=datetime(2026, 12, 1, 11, tzinfo=UTC)).matches(r)
    assert not DltFilter(until=datetime(2026, 12, 1, 10, tzinfo=UTC)).matches(r)
    assert DltFilter(payload={"batch": "b1", "pick": True}).matches(r)
    assert not DltFilter(payload={"n": "2"}).matches(r)
    assert not DltFilter(task_ids=frozenset({"other"})).matches(r)


def test_payload_filter_values_parse_as_json_when_they_can():
    assert parse_payload_filter(("n=2", "pick=true", "name=abc", 's="2"')) == {
        "n": 2,
        "pick": True,
        "name": "abc",
        "s": "2",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_payload_filter(("novalue",))


@pytest.mark.parametrize("value", [b"not json", b"[]", None, b'{"id": "x", "type": "fail"}'])
def test_foreign_records_raise_a_decode_error(value):
    with pytest.raises(RecordDecodeError):
        decode_dlt(value)


def test_a_record_without_failure_time_decodes_with_none():
    assert record(failed_at=None).failed_at is None
