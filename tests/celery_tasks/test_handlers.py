import pytest

from celery_tasks.errors import InvalidPayloadError, PermanentError, RetryableError
from celery_tasks.handlers import registry
from celery_tasks.registry import HandlerContext, Registry


def ctx(attempt=1):
    return HandlerContext("t", attempt, 4, "c")


def test_process_data_is_deterministic_and_summarises_numbers():
    payload = {"action": "process_data", "data": [1, 2, 3.5, "x", True]}
    first = registry.get("process_data").func(payload, ctx())
    again = registry.get("process_data").func(dict(reversed(payload.items())), ctx())
    assert first == again
    assert first["stats"] == {"count": 3, "sum": 6.5, "min": 1, "max": 3.5, "mean": 6.5 / 3}
    assert first["fields"] == ["action", "data"]
    assert len(first["digest"]) == 64


def test_fail_fails_the_first_n_attempts_then_succeeds():
    handler = registry.get("fail").func
    with pytest.raises(RetryableError):
        handler({"times": 2}, ctx(1))
    with pytest.raises(RetryableError):
        handler({"times": 2}, ctx(2))
    assert handler({"times": 2}, ctx(3)) == {"failed_attempts": 2, "succeeded_on_attempt": 3}


def test_fail_permanent_raises_a_non_retryable_error():
    with pytest.raises(PermanentError) as err:
        registry.get("fail").func({"permanent": True}, ctx())
    assert not isinstance(err.value, RetryableError)


@pytest.mark.parametrize("payload", [{"seconds": "1"}, {"seconds": -1}, {"seconds": 10_000}])
def test_sleep_validator_rejects_bad_seconds(payload):
    with pytest.raises(InvalidPayloadError):
        registry.get("sleep").validate(payload)


def test_registry_refuses_a_duplicate_name_and_unknown_types():
    reg = Registry()
    reg.handler("x")(lambda p, c: None)
    with pytest.raises(ValueError, match="twice"):
        reg.handler("x")(lambda p, c: None)
    with pytest.raises(PermanentError):
        reg.get("y")
