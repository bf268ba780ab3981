"""Retention: old monthly partitions of `tasks` leave by DETACH and DROP, never by DELETE."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa

from db.errors import PartitionInUseError
from db.models import ACTIVE_STATUSES
from db.partitions import CHILD_TABLES, Partition, add_months, list_partitions, set_lock_timeout

log = logging.getLogger(__name__)

DEFAULT_RETENTION_MONTHS = 12


@dataclass(frozen=True)
class PruneReport:
    """What a prune run did: partitions dropped, and those it refused to drop (with why)."""

    dropped: list[str] = field(default_factory=list)
    refused: list[PartitionInUseError] = field(default_factory=list)


def expired_partitions(
    parts: list[Partition], retention_months: int, today: date
) -> list[Partition]:
    """The partitions whose whole month is older than `retention_months` full months."""
    if retention_months < 1:
        raise ValueError("retention_months must be at least 1")
    cutoff = add_months(today, -retention_months)
    return [p for p in parts if p.end <= cutoff]


def drop_partition(conn: sa.Connection, part: Partition) -> None:
    """Detach and drop one partition in the caller's transaction; refuse if it holds active tasks.

    DETACH comes first: it locks `tasks` and then the partition, the order every writer takes,
    so no task can turn active between the check and the DROP and no deadlock is possible.
    """
    set_lock_timeout(conn)
    conn.execute(sa.text(f'ALTER TABLE tasks DETACH PARTITION "{part.name}"'))
    # Partition names are derived from dates (`partition_for`), never from input.
    active = conn.execute(
        sa.text(f'SELECT count(*) FROM "{part.name}" WHERE status = ANY(:active)'),  # noqa: S608
        {"active": [s.value for s in ACTIVE_STATUSES]},
    ).scalar_one()
    if active:
        raise PartitionInUseError(
            f"refusing to drop {part.name}: it holds {active} active task(s) "
            f"({', '.join(ACTIVE_STATUSES)}); let them finish or cancel them, then prune again"
        )
    conn.execute(sa.text(f'DROP TABLE "{part.name}"'))
    # The month's side effects (and every other child table's rows) leave with its tasks.
    for table in CHILD_TABLES:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{part.child(table)}"'))


def prune_partitions(
    engine: sa.Engine, retention_months: int, today: date | None = None
) -> PruneReport:
    """Drop every expired partition, each in its own transaction, oldest first (idempotent)."""
    today = today or datetime.now(UTC).date()
    with engine.connect() as conn:
        expired = expired_partitions(list_partitions(conn), retention_months, today)
    report = PruneReport()
    for part in expired:
        try:
            with engine.begin() as conn:
                drop_partition(conn, part)
        except PartitionInUseError as err:
            # The rollback re-attached the partition; the newer ones can still go.
            log.error("%s", err)
            report.refused.append(err)
        else:
            log.info("dropped partition %s", part.name)
            report.dropped.append(part.name)
    return report
