"""The OpenAPI paths and schemas of the operator surface: attempt history, webhooks, re-drives."""

from typing import Any

from webapp.openapi_parts import (
    AUTH_ERRORS,
    BODY_ERRORS,
    JSON,
    TASK_ID,
    json_response,
    problem,
    ref,
)

REDRIVE_ID = {
    "name": "redrive_id",
    "in": "path",
    "required": True,
    "description": "A re-drive id (UUID).",
    "schema": {"type": "string", "format": "uuid"},
}
STATES = ["PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED"]


def operator_paths() -> dict[str, Any]:
    """The paths of attempts, webhooks and re-drives."""
    redrive_body = {"required": True, "content": {JSON: {"schema": ref("RedriveRequest")}}}
    webhook_body = {"required": True, "content": {JSON: {"schema": ref("WebhookDefault")}}}
    return {
        "/api/tasks/{task_id}/attempts": {
            "get": {
                "operationId": "getTaskAttempts",
                "summary": "Every attempt of a task: worker, times, outcome, error (scope: read).",
                "parameters": [TASK_ID],
                "responses": {
                    "200": json_response("The attempts, first one first.", "AttemptList"),
                    "404": problem("No such task for this tenant."),
                    **AUTH_ERRORS,
                },
            }
        },
        "/api/tasks/{task_id}/webhooks": {
            "get": {
                "operationId": "getTaskWebhooks",
                "summary": "The task's completion webhooks and how they went (scope: read).",
                "parameters": [TASK_ID],
                "responses": {
                    "200": json_response("The deliveries, oldest first.", "DeliveryList"),
                    "404": problem("No such task for this tenant."),
                    **AUTH_ERRORS,
                },
            }
        },
        "/api/webhooks": {
            "get": {
                "operationId": "getWebhookConfig",
                "summary": "The tenant's default callback URL and signing secret (scope: admin).",
                "responses": {
                    "200": json_response("The settings.", "WebhookConfig"),
                    **AUTH_ERRORS,
                },
            },
            "put": {
                "operationId": "setWebhookDefault",
                "summary": "Set or (null) remove the default callback URL (scope: admin).",
                "requestBody": webhook_body,
                "responses": {
                    "200": json_response("The settings.", "WebhookConfig"),
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            },
        },
        "/api/webhooks/secret": {
            "post": {
                "operationId": "rotateWebhookSecret",
                "summary": "Replace the tenant's signing secret (scope: admin).",
                "responses": {
                    "200": json_response("The settings.", "WebhookConfig"),
                    **AUTH_ERRORS,
                },
            }
        },
        "/api/redrives": {
            "post": {
                "operationId": "createRedrive",
                "summary": "Re-drive the FAILED tasks a filter matches, in the background (scope: "
                "submit; all_tenants needs admin).",
                "requestBody": redrive_body,
                "responses": {
                    "202": {
                        **json_response("Accepted; follow its progress at Location.", "Redrive"),
                        "headers": {
                            "Location": {"required": True, "schema": {"type": "string"}},
                        },
                    },
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            },
            "get": {
                "operationId": "listRedrives",
                "summary": "The tenant's latest re-drives, newest first (scope: read).",
                "responses": {"200": json_response("Re-drives.", "RedriveList"), **AUTH_ERRORS},
            },
        },
        "/api/redrives/{redrive_id}": {
            "get": {
                "operationId": "getRedrive",
                "summary": "A re-drive's state and counts (scope: read).",
                "parameters": [REDRIVE_ID],
                "responses": {
                    "200": json_response("The re-drive.", "Redrive"),
                    "404": problem("No such re-drive for this tenant."),
                    **AUTH_ERRORS,
                },
            }
        },
        "/api/redrives/{redrive_id}/cancel": {
            "post": {
                "operationId": "cancelRedrive",
                "summary": "Stop a re-drive after its current chunk (scope: submit).",
                "parameters": [REDRIVE_ID],
                "responses": {
                    "200": json_response("Cancelled, or stopping.", "Redrive"),
                    "404": problem("No such re-drive for this tenant."),
                    "409": problem("The re-drive already finished."),
                    **AUTH_ERRORS,
                },
            }
        },
    }


def operator_schemas() -> dict[str, Any]:
    """The component schemas of those paths."""
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    text = {"type": ["string", "null"]}
    return {
        "Attempt": {
            "type": "object",
            "required": ["run", "attempt", "started_at", "outcome"],
            "properties": {
                "run": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Re-drives before this attempt (0: the task's first run).",
                },
                "attempt": {"type": "integer", "minimum": 1},
                "worker": text,
                "started_at": {"type": "string", "format": "date-time"},
                "finished_at": timestamp,
                "outcome": {
                    "type": "string",
                    "enum": ["running", "completed", "retried", "failed", "lost", "cancelled"],
                },
                "error_type": text,
                "error": text,
                "duration_s": {"type": ["number", "null"]},
            },
        },
        "AttemptList": {
            "type": "object",
            "required": ["task_id", "items"],
            "properties": {
                "task_id": {"type": "string"},
                "items": {"type": "array", "items": ref("Attempt")},
            },
        },
        "Delivery": {
            "type": "object",
            "required": ["id", "url", "event", "state", "attempts"],
            "properties": {
                "id": {"type": "string"},
                "url": {"type": "string"},
                "event": {"type": "string"},
                "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer"},
                "last_status": {"type": ["integer", "null"]},
                "last_error": text,
                "created_at": {"type": "string", "format": "date-time"},
                "delivered_at": timestamp,
            },
        },
        "DeliveryList": {
            "type": "object",
            "required": ["task_id", "items"],
            "properties": {
                "task_id": {"type": "string"},
                "items": {"type": "array", "items": ref("Delivery")},
            },
        },
        "WebhookConfig": {
            "type": "object",
            "required": ["url", "secret"],
            "properties": {
                "url": text,
                "secret": {"type": "string", "description": "whsec_ and base64."},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
        "WebhookDefault": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {"url": {"type": ["string", "null"], "format": "uri"}},
        },
        "RedriveFilter": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "types": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "error_types": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "failed_since": {"type": "string", "format": "date-time"},
                "failed_until": {"type": "string", "format": "date-time"},
                "task_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                "payload": {"type": "object", "description": "Contained in the payload (@>)."},
            },
        },
        "RedriveRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "filter": ref("RedriveFilter"),
                "rate": {"type": ["number", "null"], "minimum": 0.01, "maximum": 10000},
                "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
                "dry_run": {"type": "boolean", "default": False},
                "all_tenants": {"type": "boolean", "default": False},
            },
        },
        "Redrive": {
            "type": "object",
            "required": ["id", "state", "matched", "redriven", "skipped", "failed", "links"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "state": {"type": "string", "enum": STATES},
                "dry_run": {"type": "boolean"},
                "matched": {"type": "integer"},
                "redriven": {"type": "integer"},
                "skipped": {"type": "integer"},
                "failed": {"type": "integer"},
                "pending": {"type": "integer"},
                "filter": ref("RedriveFilter"),
                "rate": {"type": ["number", "null"]},
                "limit": {"type": ["integer", "null"]},
                "tenant": text,
                "cancel_requested": {"type": "boolean"},
                "error": text,
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "finished_at": timestamp,
                "links": ref("Links"),
            },
        },
        "RedriveList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": ref("Redrive")}},
        },
    }
