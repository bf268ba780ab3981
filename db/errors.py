"""Errors raised by the database layer."""


class DatabaseError(Exception):
    """Root of the errors this package raises."""


class PartitionInUseError(DatabaseError):
    """Raised when pruning would drop a partition that still holds active tasks."""
