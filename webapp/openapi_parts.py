"""Building blocks of the OpenAPI document: references, responses, shared headers and errors."""

from typing import Any

from db.models import TaskStatus

PROBLEM = "application/problem+json"
JSON = "application/json"

STATUSES = [s.value for s in TaskStatus]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": ref("Problem")}},
    }
    if headers:
        response["headers"] = headers
    return response


def json_response(
    description: str, schema: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": ref(schema)}},
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
    "401": problem("No API key, a malformed one, or a revoked one."),
    "403": problem("The API key lacks the scope this operation needs."),
    "429": problem("The API key's rate limit is spent; retry after Retry-After.", RETRY_AFTER),
}
BODY_ERRORS = {
    "400": problem("The body is not strict JSON, is nested too deeply, or a header is malformed."),
    "413": problem("The body exceeds the size limit (also when sent chunked)."),
    "415": problem("The body is not application/json."),
    "422": problem("The JSON is well formed but describes no acceptable task."),
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
