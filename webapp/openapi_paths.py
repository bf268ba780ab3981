"""The paths of the OpenAPI document: every operation with its parameters and responses."""

from typing import Any

from webapp.openapi_parts import (
    AUTH_ERRORS,
    BODY_ERRORS,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    JSON,
    LOCATION,
    STATUSES,
    TASK_ID,
    json_response,
    problem,
    ref,
)


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
        {
            **query(
                "error_type",
                "The latest failure's error type (repeatable), as on the dead-letter topic.",
                {"type": "array", "items": {"type": "string"}},
            ),
            "style": "form",
            "explode": True,
        },
        query(
            "failed_since",
            "Finished at or after (RFC 3339).",
            {"type": "string", "format": "date-time"},
        ),
        query(
            "failed_until", "Finished before (RFC 3339).", {"type": "string", "format": "date-time"}
        ),
    ]


# Where a submitted task's id leads (lets clients and stateful fuzzers follow the workflow).
TASK_LINKS = {
    "GetTask": {"operationId": "getTask", "parameters": {"task_id": "$response.body#/id"}},
    "CancelTask": {"operationId": "cancelTask", "parameters": {"task_id": "$response.body#/id"}},
}


def paths() -> dict[str, Any]:
    submit_body = {"required": True, "content": {JSON: {"schema": ref("TaskSubmission")}}}
    batch_body = {"required": True, "content": {JSON: {"schema": ref("BatchSubmission")}}}
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
                        **json_response(
                            "Stored; it runs (or waits for run_at).", "SubmittedTask", LOCATION
                        ),
                        "links": TASK_LINKS,
                    },
                    "200": json_response(
                        "An earlier request with this Idempotency-Key created it.",
                        "SubmittedTask",
                        LOCATION,
                    ),
                    "409": problem("The Idempotency-Key was used with a different request."),
                    "503": problem("A dependency the request needs is down."),
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            },
            "get": {
                "operationId": "searchTasks",
                "summary": "Search the caller's tasks, newest first (scope: read).",
                "parameters": _search_parameters(),
                "responses": {
                    "200": json_response("One page of tasks.", "TaskPage"),
                    "400": problem("A parameter is malformed or unknown."),
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
                    "202": json_response("All stored; ids in the order submitted.", "BatchResult"),
                    "200": json_response(
                        "An earlier request with this Idempotency-Key created them.", "BatchResult"
                    ),
                    "409": problem("The Idempotency-Key was used with a different request."),
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
                    "200": json_response("The task.", "Task"),
                    "404": problem("No such task for this tenant."),
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
                    "200": json_response("Cancelled; it will never run.", "Task"),
                    "202": json_response(
                        "An attempt is running; the task stops before the next one.", "Task"
                    ),
                    "404": problem("No such task for this tenant."),
                    "409": problem("The task already finished."),
                    **AUTH_ERRORS,
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "The process is serving.",
                "security": public,
                "responses": {"200": json_response("Up.", "Health")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "ready",
                "summary": "PostgreSQL, Redis and Kafka all answer (or those `require` names).",
                "security": public,
                "parameters": [
                    {
                        "name": "require",
                        "in": "query",
                        "description": "Only these checks decide readiness (repeatable); "
                        "every check is still reported. `require=database` is what accepting "
                        "tasks needs.",
                        "schema": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["database", "redis", "kafka"]},
                        },
                        "style": "form",
                        "explode": True,
                    }
                ],
                "responses": {
                    "200": json_response("Ready.", "Readiness"),
                    "400": problem("`require` names an unknown check."),
                    "503": problem("A required dependency is down; `checks` names it."),
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
