"""The distribution's version, read by the packaging metadata and the User-Agent header."""

__version__ = "0.1.0"
