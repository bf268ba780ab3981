"""Errors of the shared toolkit."""


class KitError(Exception):
    """Root of the errors this package raises."""


class SettingsError(KitError, ValueError):
    """Raised at start when an environment variable holds a value its setting cannot take."""
