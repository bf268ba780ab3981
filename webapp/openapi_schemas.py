"""The component schemas of the OpenAPI document."""

from typing import Any

from webapp.openapi_parts import STATUSES, ref
from webapp.settings import WebSettings


def schemas(settings: WebSettings, task_types: list[str]) -> dict[str, Any]:
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
                "callback_url": {
                    "type": "string",
                    "format": "uri",
                    "maxLength": 2048,
                    "description": "http(s) URL the outcome is POSTed to when the task ends, "
                    "signed (Standard Webhooks); private, loopback and link-local hosts are "
                    "refused unless the operator allows them.",
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
                "links": ref("Links"),
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
                "callback_url": {"type": ["string", "null"]},
                "links": ref("Links"),
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
                    "items": ref("TaskSubmission"),
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
                            "links": ref("Links"),
                        },
                    },
                },
            },
        },
        "TaskPage": {
            "type": "object",
            "required": ["items", "limit", "next_cursor", "links"],
            "properties": {
                "items": {"type": "array", "items": ref("Task")},
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
