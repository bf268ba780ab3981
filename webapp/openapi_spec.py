"""The OpenAPI 3.1 document of the API, built from the settings and the registered task types.

Kept by hand next to the views rather than generated from them: the document is a contract with
clients, and tests/webapp/test_openapi_fuzz.py holds the running API to it with schemathesis.
"""

from typing import Any

from db.models import TaskStatus
from webapp.settings import WebSettings

PROBLEM = "application/problem+json"
JSON = "application/json"

STATUSES = [s.value for s in TaskStatus]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": _ref("Problem")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _json(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": _ref(schema)}},
    }
    if headers:
        response["headers"] = headers
    return response


LOCATION = {
    "Location": {"description": "The task's URL.", "required": True, "schema": {"type": "string"}}
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the budget refills.",
        "schema": {"type": "string"},
    }
}

AUTH_ERRORS = {
    "401": _problem("No API key, a malformed one, or a revoked one."),
    "403": _problem("The API key lacks the scope this operation needs."),
    "429": _problem("The API key's rate limit is spent; retry after Retry-After.", RETRY_AFTER),
}
BODY_ERRORS = {
    "400": _problem("The body is not strict JSON, is nested too deeply, or a header is malformed."),
    "413": _problem("The body exceeds the size limit (also when sent chunked)."),
    "415": _problem("The body is not application/json."),
    "422": _problem("The JSON is well formed but describes no acceptable task."),
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: the same key and body return the original task(s) with 200; "
    "the same key with another body is a 409. Keys expire after a configured time.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
CORRELATION_ID = {
    "name": "X-Correlation-Id",
    "in": "header",
    "required": False,
    "description": "Kept when 1-128 characters of [A-Za-z0-9._:-]; otherwise replaced by a "
    "generated id. The response always carries the id used.",
    "schema": {"type": "string"},
}
TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "description": "A task id (UUIDv7).",
    "schema": {"type": "string"},
}


def _schemas(settings: WebSettings, task_types: list[str]) -> dict[str, Any]:
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "correlation_id": {"type": "string"},
                "errors": {
                    "type": "array",
                    "description": "Batch submissions: the invalid items, by index.",
                    "items": {
                        "type": "object",
                        "required": ["index", "detail"],
                        "properties": {"index": {"type": "integer"}, "detail": {"type": "string"}},
                    },
                },
            },
        },
        "TaskSubmission": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {
                    "type": "string",
                    "description": "A registered task type; defaults to the payload's 'action'.",
                    "enum": task_types,
                },
                "payload": {
                    "description": "A JSON object, or a string holding one (the original design).",
                    "type": ["object", "string"],
                },
                "priority": {"type": "integer", "minimum": 0, "maximum": 9, "default": 0},
                "max_attempts": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": settings.max_attempts_limit,
                    "default": settings.default_max_attempts,
                },
                "run_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "RFC 3339 with an offset; a future time makes the task "
                    f"SCHEDULED (at most {settings.max_schedule_ahead_days} days ahead).",
                },
            },
        },
        "SubmittedTask": {
            "type": "object",
            "required": ["id", "status", "type", "created_at", "links"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": STATUSES},
                "type": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "correlation_id": {"type": ["string", "null"]},
                "priority": {"type": "integer"},
                "run_at": timestamp,
                "links": _ref("Links"),
            },
        },
        "Links": {
            "type": "object",
            "required": ["self"],
            "properties": {"self": {"type": "string"}},
        },
        "Task": {
            "type": "object",
            "required": ["id", "type", "status", "attempts", "max_attempts", "links"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "type": {"type": "string"},
                "status": {"type": "string", "enum": STATUSES},
                "payload": {"type": "object"},
                "result": {"type": ["object", "null"]},
                "priority": {"type": "integer", "minimum": 0, "maximum": 9},
                "attempts": {"type": "integer", "minimum": 0},
                "max_attempts": {"type": "integer", "minimum": 1},
                "last_error": {"type": ["string", "null"]},
                "error_type": {"type": ["string", "null"]},
                "correlation_id": {"type": ["string", "null"]},
                "tenant": {"type": ["string", "null"]},
                "cancel_requested": {"type": "boolean"},
                "redrive_count": {"type": "integer"},
                "created_at": timestamp,
                "updated_at": timestamp,
                "run_at": timestamp,
                "started_at": timestamp,
                "finished_at": timestamp,
                "next_attempt_at": timestamp,
                "links": _ref("Links"),
            },
        },
        "BatchSubmission": {
            "type": "object",
            "additionalProperties": False,
            "required": ["tasks"],
            "properties": {
                "tasks": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.max_batch_size,
                    "items": _ref("TaskSubmission"),
                }
            },
        },
        "BatchResult": {
            "type": "object",
            "required": ["count", "tasks"],
            "properties": {
                "count": {"type": "integer"},
                "tasks": {
                    "type": "array",
                    "description": "One entry per submitted task, in the order submitted.",
                    "items": {
                        "type": "object",
                        "required": ["id", "links"],
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "status": {"type": ["string", "null"]},
                            "links": _ref("Links"),
                        },
                    },
                },
            },
        },
        "TaskPage": {
            "type": "object",
            "required": ["items", "limit", "next_cursor", "links"],
            "properties": {
                "items": {"type": "array", "items": _ref("Task")},
                "limit": {"type": "integer"},
                "next_cursor": {"type": ["string", "null"]},
                "links": {"type": "object", "properties": {"next": {"type": "string"}}},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string"},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    }


def _search_parameters() -> list[dict[str, Any]]:
    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "description": description, "schema": schema}

    return [
        {
            **query(
                "status",
                "Repeat for several statuses.",
                {"type": "array", "items": {"type": "string", "enum": STATUSES}},
            ),
            "style": "form",
            "explode": True,
        },
        query("type", "Exact task type.", {"type": "string"}),
        query("created_after", "ISO 8601 timestamp.", {"type": "string", "format": "date-time"}),
        query("created_before", "ISO 8601 timestamp.", {"type": "string", "format": "date-time"}),
        query("payload", "A JSON object the payload must contain.", {"type": "string"}),
        query("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 500}),
        query("cursor", "The next_cursor of the previous page.", {"type": "string"}),
    ]


# Where a submitted task's id leads (lets clients and stateful fuzzers follow the workflow).
TASK_LINKS = {
    "GetTask": {"operationId": "getTask", "parameters": {"task_id": "$response.body#/id"}},
    "CancelTask": {"operationId": "cancelTask", "parameters": {"task_id": "$response.body#/id"}},
}


def _paths() -> dict[str, Any]:
    submit_body = {"required": True, "content": {JSON: {"schema": _ref("TaskSubmission")}}}
    batch_body = {"required": True, "content": {JSON: {"schema": _ref("BatchSubmission")}}}
    public: list[dict[str, list[str]]] = []
    return {
        "/api/tasks": {
            "post": {
                "operationId": "submitTask",
                "summary": "Submit a task (scope: submit).",
                "parameters": [IDEMPOTENCY_KEY, CORRELATION_ID],
                "requestBody": submit_body,
                "responses": {
                    "202": {
                        **_json(
                            "Stored; it runs (or waits for run_at).", "SubmittedTask", LOCATION
                        ),
                        "links": TASK_LINKS,
                    },
                    "200": _json(
                        "An earlier request with this Idempotency-Key created it.",
                        "SubmittedTask",
                        LOCATION,
                    ),
                    "409": _problem("The Idempotency-Key was used with a different request."),
                    "503": _problem("A dependency the request needs is down."),
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            },
            "get": {
                "operationId": "searchTasks",
                "summary": "Search the caller's tasks, newest first (scope: read).",
                "parameters": _search_parameters(),
                "responses": {
                    "200": _json("One page of tasks.", "TaskPage"),
                    "400": _problem("A parameter is malformed or unknown."),
                    **AUTH_ERRORS,
                },
            },
        },
        "/api/tasks/batch": {
            "post": {
                "operationId": "submitBatch",
                "summary": "Submit many tasks in one transaction (scope: submit).",
                "parameters": [IDEMPOTENCY_KEY, CORRELATION_ID],
                "requestBody": batch_body,
                "responses": {
                    "202": _json("All stored; ids in the order submitted.", "BatchResult"),
                    "200": _json(
                        "An earlier request with this Idempotency-Key created them.", "BatchResult"
                    ),
                    "409": _problem("The Idempotency-Key was used with a different request."),
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            },
        },
        "/api/tasks/{task_id}": {
            "get": {
                "operationId": "getTask",
                "summary": "Read one of the caller's tasks (scope: read).",
                "parameters": [TASK_ID],
                "responses": {
                    "200": _json("The task.", "Task"),
                    "404": _problem("No such task for this tenant."),
                    **AUTH_ERRORS,
                },
            },
        },
        "/api/tasks/{task_id}/cancel": {
            "post": {
                "operationId": "cancelTask",
                "summary": "Cancel a task (scope: submit).",
                "parameters": [TASK_ID],
                "responses": {
                    "200": _json("Cancelled; it will never run.", "Task"),
                    "202": _json(
                        "An attempt is running; the task stops before the next one.", "Task"
                    ),
                    "404": _problem("No such task for this tenant."),
                    "409": _problem("The task already finished."),
                    **AUTH_ERRORS,
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "The process is serving.",
                "security": public,
                "responses": {"200": _json("Up.", "Health")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "ready",
                "summary": "PostgreSQL, Redis and Kafka all answer.",
                "security": public,
                "responses": {
                    "200": _json("Ready.", "Readiness"),
                    "503": _problem("A dependency is down; `checks` names it."),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics.",
                "security": public,
                "responses": {
                    "200": {
                        "description": "Exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": public,
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/docs": {
            "get": {
                "operationId": "reference",
                "summary": "The API reference page (Swagger UI, served locally).",
                "security": public,
                "responses": {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


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
        "paths": _paths(),
        "components": {
            "schemas": _schemas(settings, task_types),
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
