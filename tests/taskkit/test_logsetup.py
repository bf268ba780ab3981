"""Log lines: JSON with the context fields, the human default, the settings."""

import io
import json
import logging
import logging.config
import uuid
from datetime import UTC, datetime

import pytest

from taskkit import logsetup
from taskkit.settings import LogSettings


@pytest.fixture(autouse=True)
def _empty_context():
    # Other tests run the executor directly; the worker's task_postrun would clear after them.
    logsetup.clear()
    yield
    logsetup.clear()


def _capture(log_format: str, service: str = "svc") -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logsetup.make_handler(service, log_format)
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger = logging.getLogger(f"test.logsetup.{log_format}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_line_carries_context_fields_in_order():
    logger, stream = _capture("json")
    with logsetup.log_context(correlation_id="c-1", task_id="t-1", task_type="echo", attempt=2):
        logger.info("task %s done", "t-1")
    line = stream.getvalue()
    assert line.count("\n") == 1
    record = json.loads(line)
    assert list(record) == [
        "timestamp",
        "level",
        "logger",
        "service",
        "message",
        "correlation_id",
        "task_id",
        "task_type",
        "attempt",
    ]
    assert record["message"] == "task t-1 done"
    assert record["level"] == "INFO"
    assert record["service"] == "svc"
    assert record["attempt"] == 2
    assert record["timestamp"].endswith("+00:00")


def test_json_line_leaves_out_unknown_context_and_keeps_exceptions_on_one_line():
    logger, stream = _capture("json")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert "correlation_id" not in record
    assert "task_id" not in record
    assert "ValueError: bad" in record["exc_info"]


def test_context_ends_with_its_block_and_explicit_extra_wins():
    logger, stream = _capture("json")
    with logsetup.log_context(correlation_id="outer"):
        with logsetup.log_context(task_id="t-9"):
            logger.info("inner", extra={"correlation_id": "explicit"})
        logger.info("outer")
    logger.info("none")
    inner, outer, none = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inner["correlation_id"], inner["task_id"]) == ("explicit", "t-9")
    assert outer["correlation_id"] == "outer"
    assert "task_id" not in outer
    assert "correlation_id" not in none


def test_human_format_is_the_default_and_names_the_context():
    logger, stream = _capture(LogSettings().format, service="relay")
    with logsetup.log_context(correlation_id="c-7", task_id="t-7"):
        logger.warning("published")
    line = stream.getvalue().strip()
    assert not line.startswith("{")
    assert (
        " WARNING [relay] test.logsetup.human: published [correlation_id=c-7 task_id=t-7]" in line
    )


def test_configure_logging_replaces_the_handler_the_servers_dictconfig_installed():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        # As webapp/serve.py has granian do before the app is loaded.
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "root": {"level": "INFO", "handlers": ["taskservice"]},
                "handlers": {
                    "taskservice": {"()": "taskkit.logsetup.make_handler", "service": "api"}
                },
            }
        )
        logsetup.configure_logging(LogSettings(format="json"), "api")
        ours = [h for h in root.handlers if isinstance(h, logsetup.ServiceHandler)]
        assert len(ours) == 1
    finally:
        root.handlers = before
        root.setLevel(level)


def test_configure_logging_twice_keeps_one_handler():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        logsetup.configure_logging(LogSettings(format="json"), "a")
        logsetup.configure_logging(LogSettings(format="json"), "b")
        ours = [h for h in root.handlers if (h.get_name() or "").startswith("taskservice-")]
        assert len(ours) == 1
        assert ours[0].get_name() == "taskservice-b"
    finally:
        root.handlers = before
        root.setLevel(level)


def test_log_settings_from_env_reads_format_and_refuses_unknown_ones():
    settings = LogSettings.from_env({"LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"})
    assert (settings.format, settings.level, settings.service) == ("json", "DEBUG", None)
    assert LogSettings.from_env({}).format == "human"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        LogSettings.from_env({"LOG_FORMAT": "xml"})


def test_service_name_comes_from_the_celery_subcommand():
    assert logsetup.service_from_argv(["celery", "-A", "celery_tasks.app", "worker"]) == "worker"
    assert logsetup.service_from_argv(["celery", "-A", "celery_tasks.app", "beat"]) == "beat"
    assert logsetup.service_from_argv(["python"]) == "celery"


def test_json_line_keeps_extra_fields_and_writes_what_json_cannot_hold_as_text():
    logger, stream = _capture("json")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = uuid.UUID("01a24a3e-006d-77cc-b6a9-3b5db5a7e0a3")
    logger.info("with extras", extra={"rows": 3, "message_id": ident, "at": when, "gone": None})
    record = json.loads(stream.getvalue())
    assert record["rows"] == 3
    assert record["message_id"] == str(ident)
    assert record["at"] == "2026-01-02T03:04:05+00:00"
    # A field whose value is None is left out, as the context fields are.
    assert "gone" not in record
    # The logging module's own attributes never leak into the line.
    assert not {"args", "msg", "levelno", "pathname", "context"} & record.keys()
