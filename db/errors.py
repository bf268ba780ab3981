"""Errors raised by the database layer."""


class DatabaseError(Exception):
    """Root of the errors this package raises."""


class PartitionInUseError(DatabaseError):
    """Raised when pruning would drop a partition that still holds active tasks."""


class RecordDecodeError(DatabaseError):
    """Raised when a Kafka record is not a valid `tasks` or `tasks-dlt` record of this service."""


class DatabaseUnavailableError(DatabaseError):
    """Raised when the database refused or dropped the connection of a direct statement
    (db/direct.py); whether a write committed is unknown, so callers retry fenced writes."""
