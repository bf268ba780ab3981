"""Monthly partitions of `tasks`: create ahead of time; list them."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa


@dataclass(frozen=True)
class Partition:
    """One monthly partition of `tasks`."""

    name: str
    start: date
    end: date


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_for(month: date) -> Partition:
    """The partition that holds rows created in `month`."""
    start = month_start(month)
    return Partition(f"tasks_p{start:%Y_%m}", start, add_months(start, 1))


def ensure_partitions(conn: sa.Connection, ahead: int, today: date | None = None) -> list[str]:
    """Create the partitions of the current month and the next `ahead` months; return new ones."""
    today = today or datetime.now(UTC).date()
    existing = {p.name for p in list_partitions(conn)}
    created: list[str] = []
    for i in range(ahead + 1):
        part = partition_for(add_months(today, i))
        if part.name in existing:
            continue
        conn.execute(
            sa.text(
                f'CREATE TABLE IF NOT EXISTS "{part.name}" PARTITION OF tasks '
                f"FOR VALUES FROM ('{part.start.isoformat()} 00:00:00+00') "
                f"TO ('{part.end.isoformat()} 00:00:00+00')"
            )
        )
        created.append(part.name)
    return created


def list_partitions(conn: sa.Connection) -> list[Partition]:
    """The monthly partitions of `tasks`, oldest first (the default partition is not listed)."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'tasks'::regclass AND c.relname LIKE 'tasks\\_p%' "
            "ORDER BY c.relname"
        )
    )
    parts = []
    for (name,) in rows:
        year, month = int(name[7:11]), int(name[12:14])
        parts.append(partition_for(date(year, month, 1)))
    return parts
