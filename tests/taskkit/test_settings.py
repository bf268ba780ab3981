"""Settings read from the environment: typed, one boolean rule, errors naming the variable."""

import pytest
from pydantic import SecretStr

from bridge.settings import BridgeSettings
from celery_tasks.settings import WorkerSettings
from relay.settings import RelaySettings
from taskctl.settings import CliSettings
from taskkit.errors import SettingsError
from taskkit.settings import LOCAL_DATABASE_URL, LogSettings, ServiceSettings
from webapp.settings import WebSettings

EVERY_SETTINGS_CLASS = (
    WebSettings,
    RelaySettings,
    BridgeSettings,
    WorkerSettings,
    CliSettings,
    LogSettings,
)


def test_a_bad_integer_names_the_variable_and_its_value():
    with pytest.raises(SettingsError) as err:
        WorkerSettings.from_env({"CELERY_TASKS_TIME_LIMIT_S": "90s"})
    assert "CELERY_TASKS_TIME_LIMIT_S='90s'" in str(err.value)
    assert "integer" in str(err.value)


@pytest.mark.parametrize(
    ("cls", "variable", "value"),
    [
        (WebSettings, "WEBAPP_MAX_BODY_BYTES", "1MB"),
        (WebSettings, "WEBAPP_AUTH_ENABLED", "maybe"),
        (WebSettings, "WEBAPP_TRUSTED_PROXY_COUNT", "-1"),
        (RelaySettings, "RELAY_BATCH_SIZE", "0"),
        (RelaySettings, "RELAY_SWEEP_INTERVAL_S", "soon"),
        (BridgeSettings, "BRIDGE_METRICS_PORT", "70000"),
        (BridgeSettings, "CELERY_TASKS_VISIBILITY_TIMEOUT_S", "1h"),
        (WorkerSettings, "CELERY_TASKS_FAULT_INJECTION", "2"),
        (WorkerSettings, "CELERY_TASKS_PARTITIONS_AHEAD", "three"),
        (WorkerSettings, "LOG_FORMAT", "xml"),
        (CliSettings, "WEBAPP_DEFAULT_MAX_ATTEMPTS", "0"),
    ],
)
def test_every_bad_value_stops_with_a_message_naming_it(cls, variable, value):
    with pytest.raises(SettingsError, match=variable):
        cls.from_env({variable: value})


@pytest.mark.parametrize("text", ["1", "true", "True", "TRUE", "yes", "on"])
def test_true_is_read_the_same_way_everywhere(text):
    assert WebSettings.from_env({"WEBAPP_AUTH_ENABLED": text}).auth_enabled is True
    assert WorkerSettings.from_env({"CELERY_TASKS_FAULT_INJECTION": text}).fault_injection is True


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "off"])
def test_false_is_read_the_same_way_everywhere(text):
    assert WebSettings.from_env({"WEBAPP_AUTH_ENABLED": text}).auth_enabled is False
    assert WorkerSettings.from_env({"CELERY_TASKS_FAULT_INJECTION": text}).fault_injection is False


def test_shared_urls_have_one_default_and_one_variable():
    for cls in (WebSettings, RelaySettings, WorkerSettings, CliSettings):
        assert cls.from_env({}).database_url == LOCAL_DATABASE_URL
        assert cls.from_env({"DATABASE_URL": "postgresql://x/y"}).database_url == "postgresql://x/y"


@pytest.mark.parametrize("cls", EVERY_SETTINGS_CLASS)
def test_every_field_is_reachable_from_the_environment(cls: type[ServiceSettings]):
    for name, field in cls.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, ServiceSettings):
            continue  # nested settings read their own variables
        variable = cls.env_name(name)
        default = getattr(cls.from_env({}), name)
        probe = _probe_value(default, field.annotation)
        read = getattr(cls.from_env({variable: probe}), name)
        assert str(read).lower() == probe.lower() or read != default, (cls.__name__, variable)


def _probe_value(default: object, annotation: object) -> str:
    if isinstance(default, bool):
        return "false" if default else "true"
    if default is None and annotation == bool | None:
        return "true"
    if default is None and annotation == SecretStr | None:
        return "probe-secret-" + "x" * 32  # secrets have a minimum length
    if isinstance(default, int | float):
        return "7"
    if default in ("human", "json"):
        return "json" if default == "human" else "human"
    if default in ("INFO", "DEBUG"):
        return "DEBUG" if default == "INFO" else "INFO"
    return "probe-value"


def test_nested_settings_read_their_own_variables():
    settings = BridgeSettings.from_env({"CELERY_BROKER_URL": "redis://b:1/2", "LOG_FORMAT": "json"})
    assert settings.broker.broker_url == "redis://b:1/2"
    assert settings.log.format == "json"


def test_keyword_arguments_win_and_unknown_ones_are_refused():
    assert RelaySettings(batch_size=3).batch_size == 3
    with pytest.raises(ValueError, match="Extra inputs"):
        RelaySettings(batchsize=3)  # type: ignore[call-arg]


def test_an_empty_variable_means_unset():
    assert WebSettings.from_env({"DATABASE_REPLICA_URL": ""}).database_replica_url is None
