"""Errors of the bridge."""


class BridgeError(Exception):
    """Root of the errors this package raises."""


class RecordDecodeError(BridgeError):
    """Raised when a Kafka record is not a valid `tasks` record (it is logged and skipped)."""


class ConsumerFatalError(BridgeError):
    """Raised when the Kafka client reports an error it cannot recover from."""
