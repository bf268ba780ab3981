"""The OpenAPI 3.1 document of the API, built from the settings and the catalog's task types.

Kept by hand next to the views rather than generated from them: the document is a contract with
clients, and tests/webapp/test_openapi_fuzz.py holds the running API to it with schemathesis.
"""

from typing import Any

from webapp.openapi_operator import operator_paths, operator_schemas
from webapp.openapi_paths import paths
from webapp.openapi_schemas import schemas
from webapp.settings import WebSettings


def build_document(settings: WebSettings, task_types: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for an API with these settings and task types."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Task service API",
            "version": "1.0.0",
            "description": "Submit tasks, follow them to completion, cancel them. Errors are "
            "application/problem+json (RFC 9457). Authenticate with "
            "`Authorization: Bearer <key>` (`taskctl apikey create`).",
        },
        "servers": [{"url": "/"}],
        "paths": {**paths(), **operator_paths()},
        "components": {
            "schemas": {**schemas(settings, task_types), **operator_schemas()},
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `taskctl apikey create`; scopes: "
                    "submit, read, admin.",
                }
            },
        },
    }
    if settings.auth_enabled:
        doc["security"] = [{"apiKey": []}]
    return doc
