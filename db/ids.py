"""Task ids: UUIDv7, whose first 48 bits are the creation time in Unix milliseconds.

The id carries its row's `created_at`, so a lookup by id can name the exact partition key and
PostgreSQL prunes to one partition. The standard library only gains `uuid.uuid7` in Python 3.14,
and the format is twenty lines, so it is written here rather than pulled in as a dependency.
"""

import os
import uuid
from datetime import UTC, datetime


def uuid7(now: datetime | None = None) -> uuid.UUID:
    """Return a new UUIDv7 whose timestamp is `now` (default: the current time)."""
    ts = now or datetime.now(UTC)
    unix_ms = int(ts.timestamp() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 62 & 0x0FFF
    rand_b = rand & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def created_at_of(task_id: uuid.UUID) -> datetime:
    """Return the creation time a UUIDv7 carries, at millisecond precision, in UTC."""
    if task_id.version != 7:
        raise ValueError("not a UUIDv7")
    unix_ms = task_id.int >> 80
    return datetime.fromtimestamp(unix_ms / 1000, tz=UTC)


def parse_task_id(text: str) -> uuid.UUID | None:
    """Parse a task id from text; None when it is not a UUIDv7."""
    try:
        value = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None
    return value if value.version == 7 else None
