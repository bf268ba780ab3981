"""Monthly partitions of `tasks`: create ahead of time (rescuing rows from the default
partition), list them, and count what the default partition caught."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

DEFAULT_PARTITION = "tasks_default"
# Maintenance DDL takes strong locks on `tasks`; waiting behind a long query would queue every
# API request behind the DDL, so it gives up instead and the next beat run tries again.
MAINTENANCE_LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class Partition:
    """One monthly partition of `tasks`."""

    name: str
    start: date
    end: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """The partition's range of `created_at`, as UTC datetimes (end exclusive)."""
        return (
            datetime(self.start.year, self.start.month, 1, tzinfo=UTC),
            datetime(self.end.year, self.end.month, 1, tzinfo=UTC),
        )


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


def set_lock_timeout(conn: sa.Connection) -> None:
    """Bound how long the current transaction's maintenance DDL waits for its locks."""
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{MAINTENANCE_LOCK_TIMEOUT}'"))


def create_partition(conn: sa.Connection, part: Partition) -> int:
    """Create `part`, first moving the rows the default partition holds for its range.

    PostgreSQL refuses to create a partition while the default partition has rows in its
    range, so those rows leave the default partition and come back through the parent, all in
    the caller's transaction. Returns how many rows were moved.
    """
    start, end = part.bounds
    window = {"start": start, "end": end}
    stray = conn.execute(
        sa.text(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} "  # noqa: S608 - a constant name
            "WHERE created_at >= :start AND created_at < :end)"
        ),
        window,
    ).scalar_one()
    moved = 0
    if stray:
        conn.execute(sa.text("CREATE TEMPORARY TABLE tasks_moving (LIKE tasks) ON COMMIT DROP"))
        moved = conn.execute(
            sa.text(
                f"WITH gone AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608 - a constant name
                "WHERE created_at >= :start AND created_at < :end RETURNING *) "
                "INSERT INTO tasks_moving SELECT * FROM gone"
            ),
            window,
        ).rowcount
    # The bounds come from dates, never from input, so formatting them into DDL is safe.
    conn.execute(
        sa.text(
            f'CREATE TABLE IF NOT EXISTS "{part.name}" PARTITION OF tasks '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    if stray:
        conn.execute(sa.text("INSERT INTO tasks SELECT * FROM tasks_moving"))
        conn.execute(sa.text("DROP TABLE tasks_moving"))
    return moved


def ensure_partitions(conn: sa.Connection, ahead: int, today: date | None = None) -> list[str]:
    """Create the partitions of the current month and the next `ahead` months; return new ones."""
    today = today or datetime.now(UTC).date()
    existing = {p.name for p in list_partitions(conn)}
    created: list[str] = []
    set_lock_timeout(conn)
    for i in range(ahead + 1):
        part = partition_for(add_months(today, i))
        if part.name in existing:
            continue
        create_partition(conn, part)
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


def default_partition_rows(conn: sa.Connection) -> int:
    """Rows in the default partition: tasks whose `created_at` no monthly partition covers."""
    query = sa.text(f"SELECT count(*) FROM {DEFAULT_PARTITION}")  # noqa: S608 - a constant name
    return int(conn.execute(query).scalar_one())
