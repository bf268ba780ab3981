import uuid
from datetime import UTC, datetime

from db.ids import created_at_of, parse_task_id, uuid7


def test_uuid7_has_version_7_and_rfc_variant():
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_carries_its_creation_time_to_the_millisecond():
    moment = datetime(2026, 12, 1, 10, 30, 15, 123000, tzinfo=UTC)
    assert created_at_of(uuid7(moment)) == moment


def test_uuid7_values_sort_by_time():
    first = uuid7(datetime(2026, 1, 1, tzinfo=UTC))
    second = uuid7(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert first < second


def test_parse_task_id_accepts_only_uuid7():
    value = uuid7()
    assert parse_task_id(str(value)) == value
    assert parse_task_id(str(uuid.uuid4())) is None
    assert parse_task_id("not-a-uuid") is None
    assert parse_task_id("") is None
