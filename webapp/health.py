"""Liveness and readiness endpoints."""

from typing import Any

import sqlalchemy as sa
from confluent_kafka import KafkaException
from flask import Blueprint, Response, jsonify
from redis.exceptions import RedisError

from db.topics import TASKS_TOPIC
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


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when PostgreSQL, Redis and Kafka all answer; 503 naming the failing parts."""
    checks = {"database": _check_database, "redis": _check_redis, "kafka": _check_kafka}
    failures = {name: err for name, check in checks.items() if (err := check()) is not None}
    body: dict[str, Any] = {
        "status": "ready" if not failures else "unavailable",
        "checks": {name: failures.get(name, "ok") for name in checks},
    }
    if failures:
        detail = "; ".join(failures.values())
        return problem(503, "Service Unavailable", detail, "unavailable", checks=body["checks"])
    return jsonify(body)
