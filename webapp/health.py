"""Liveness and readiness endpoints."""

from typing import Any

import sqlalchemy as sa
from confluent_kafka import KafkaException
from flask import Blueprint, Response, jsonify, request
from redis.exceptions import RedisError

from db.topics import TASKS_TOPIC
from webapp.errors import BadRequestError
from webapp.problems import problem
from webapp.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving requests."""
    return jsonify({"status": "ok"})


def _check_database() -> str | None:
    try:
        with services().engines.primary.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as err:
        return f"database: {type(err).__name__}"
    return None


def _check_redis() -> str | None:
    try:
        services().redis.ping()
    except RedisError as err:
        return f"redis: {type(err).__name__}"
    return None


def _check_kafka() -> str | None:
    svc = services()
    try:
        metadata = svc.kafka_admin.list_topics(
            topic=TASKS_TOPIC, timeout=svc.settings.readiness_timeout_s
        )
    except KafkaException as err:
        return f"kafka: {err}"
    topic = metadata.topics.get(TASKS_TOPIC)
    if topic is None or topic.error is not None or not metadata.brokers:
        return f"kafka: topic {TASKS_TOPIC} is not available"
    return None


CHECKS = {"database": _check_database, "redis": _check_redis, "kafka": _check_kafka}


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when every dependency answers, or those named by `require` (repeatable); 503
    naming the failing parts. Accepting a task needs only PostgreSQL, so a load balancer's
    probe asks `/readyz?require=database` and keeps every pod in service while Kafka or Redis
    is down; the other checks are still run and reported."""
    required = request.args.getlist("require") or list(CHECKS)
    unknown = sorted(set(required) - set(CHECKS))
    if unknown:
        raise BadRequestError(
            f"require: unknown check {unknown[0]!r}; known: {', '.join(CHECKS)}",
            parameter="require",
        )
    failures = {name: err for name, check in CHECKS.items() if (err := check()) is not None}
    blocking = {name: err for name, err in failures.items() if name in required}
    body: dict[str, Any] = {
        "status": "ready" if not blocking else "unavailable",
        "checks": {name: failures.get(name, "ok") for name in CHECKS},
    }
    if blocking:
        detail = "; ".join(blocking.values())
        return problem(503, "Service Unavailable", detail, "unavailable", checks=body["checks"])
    return jsonify(body)
