"""The HTTP API: `python -m webapp.serve` (granian serving `create_app()`).

`create_app` lives in webapp/app.py and is resolved here on first use, so the modules the CLI
shares with the API (validation, views, errors) import without building the Flask stack.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from webapp.app import create_app

        return create_app
    raise AttributeError(f"module 'webapp' has no attribute {name!r}")
