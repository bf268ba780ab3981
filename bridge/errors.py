"""Errors of the bridge. Undecodable records raise db.errors.RecordDecodeError (db/wire.py)."""


class BridgeError(Exception):
    """Root of the errors this package raises."""


class ConsumerFatalError(BridgeError):
    """Raised when the Kafka client reports an error it cannot recover from."""
