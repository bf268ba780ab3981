"""The Helm chart (ops/helm/taskservice), rendered with `helm template` and checked offline:
every object against the Kubernetes schemas, the custom resources (KEDA, Prometheus Operator)
field by field, and the properties the deployment relies on.

Helm comes from ops/helm/ensure-helm.sh, which builds it once (minutes) and returns at once
afterwards; a missing tool fails these tests, as everything under CI does."""

import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import sqlalchemy as sa
import yaml
from flower.options import options as flower_options

from bridge.settings import BridgeSettings
from celery_tasks.catalog import CATALOG
from celery_tasks.settings import BrokerSettings, WorkerSettings
from db.ids import created_at_of, uuid7
from db.models import tasks_table
from db.topics import TASKS_PARTITIONS, TASKS_TOPIC
from relay.settings import RelaySettings
from taskctl.settings import CliSettings
from taskkit.settings import LogSettings, ServiceSettings
from tests.ops.entrypoints import check_entry_point
from webapp.health import CHECKS
from webapp.settings import WebSettings

# A cold build of Helm takes minutes (module downloads, compilation); every later call of
# ensure-helm.sh returns at once, and a render takes a fraction of a second.
pytestmark = pytest.mark.timeout(1200)

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "ops/helm/taskservice"
ENSURE_HELM = REPO / "ops/helm/ensure-helm.sh"
RELEASE = "ts"
PREFIX = f"{RELEASE}-taskservice"
# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion) and the newest the
# installed kubernetes-validate knows.
KUBE_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
HEARTBEAT_PROBE = ["python", "-m", "taskkit.heartbeat", "/tmp/heartbeat", "--max-age-s", "60"]
NO_PROBES = "taskservice/no-probes"

# Fresh per run, so a value found outside a Secret can only have leaked there.
PASSWORDS = {
    name: secrets.token_hex(12)
    for name in ("database", "replica", "redis", "broker", "limiter", "flower", "keda", "ui")
}
SECRET_VALUES = {
    "databaseUrl": f"postgresql+psycopg://tasks:{PASSWORDS['database']}@pg.internal:5432/tasks",
    "redisUrl": f"redis://:{PASSWORDS['redis']}@redis.internal:6379/0",
    "celeryBrokerUrl": f"redis://:{PASSWORDS['broker']}@redis.internal:6379/1",
    "flowerBasicAuth": f"admin:{PASSWORDS['flower']}",
}
INLINE = tuple(f"secrets.{key}={value}" for key, value in SECRET_VALUES.items())
EXTRAS = (
    f"secrets.databaseReplicaUrl=postgresql+psycopg://tasks:{PASSWORDS['replica']}@replica:5432/tasks",
    f"secrets.rateLimitStorageUrl=redis://:{PASSWORDS['limiter']}@limiter:6379/0",
    f"secrets.kedaPostgresqlConnection=postgresql://keda:{PASSWORDS['keda']}@pg.internal/tasks",
    f"secrets.uiSecretKey=ui-{PASSWORDS['ui']}",
)
# The other side of every switch: an operator's Secret, no KEDA, no HPA, ServiceMonitors.
VARIANT = (
    "secrets.existingSecret=ops-secret",
    "keda.enabled=false",
    "api.autoscaling.enabled=false",
    "metrics.serviceMonitor.enabled=true",
    "metrics.podAnnotations=false",
    "flower.enabled=false",
)
PROCESSES = ("api", "relay", "bridge", "worker", "maintenance-worker", "beat", "flower")


@pytest.fixture(scope="session")
def helm() -> str:
    """The pinned Helm, built on first use."""
    done = subprocess.run([str(ENSURE_HELM)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"ensure-helm.sh failed:\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


@cache
def _helm_template(helm: str, strings: tuple[str, ...], sets: tuple[str, ...]) -> tuple[int, str]:
    argv = [helm, "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSIONS[-1]]
    for value in strings:
        argv += ["--set-string", value]
    for value in sets:
        argv += ["--set", value]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr


def render(helm: str, *sets: str, strings: tuple[str, ...] = INLINE) -> list[dict[str, Any]]:
    """The objects the chart renders with the given secrets and --set values."""
    code, output = _helm_template(helm, strings, sets)
    assert code == 0, output
    return [doc for doc in yaml.safe_load_all(output) if doc]


def render_error(helm: str, *sets: str, strings: tuple[str, ...] = INLINE) -> str:
    """The error of a render that must fail."""
    code, output = _helm_template(helm, strings, sets)
    assert code != 0, f"rendered although it should fail: {sets}"
    return output


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def argv(c: dict[str, Any]) -> list[str]:
    """What the container runs, past the wrapper that empties /tmp."""
    return [str(a) for a in c.get("args") or c["command"]]


def deployment(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return one(objects, "Deployment", f"{PREFIX}-{component}")


# --- custom resources: no Kubernetes schema covers them, so each is checked here --------------


def _check_metadata_strings(trigger: dict[str, Any]) -> None:
    # KEDA's trigger metadata is a map of strings; a number there is refused by its CRD.
    for key, value in trigger["metadata"].items():
        assert isinstance(value, str), f"trigger metadata {key}={value!r} is not a string"


def check_scaled_object(obj: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    spec = obj["spec"]
    assert set(spec) <= {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "idleReplicaCount", "initialCooldownPeriod", "fallback", "advanced",
        "triggers",
    }, sorted(spec)  # fmt: skip
    target = spec["scaleTargetRef"]["name"]
    scaled = one(objects, "Deployment", target)
    # A replica count in the Deployment would be reset by every helm upgrade behind KEDA's back.
    assert "replicas" not in scaled["spec"], target
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert isinstance(spec["pollingInterval"], int)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert isinstance(behavior["scaleDown"]["stabilizationWindowSeconds"], int)
    assert spec["triggers"], obj["metadata"]["name"]
    for trigger in spec["triggers"]:
        assert trigger["type"] in ("kafka", "postgresql"), trigger["type"]
        _check_metadata_strings(trigger)
        if "authenticationRef" in trigger:
            one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])


def check_trigger_authentication(obj: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    assert set(obj["spec"]) == {"secretTargetRef"}
    for ref in obj["spec"]["secretTargetRef"]:
        assert set(ref) == {"parameter", "name", "key"}
        assert all(isinstance(v, str) and v for v in ref.values()), ref


def check_service_monitor(obj: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    wanted = obj["spec"]["selector"]["matchLabels"]
    services = [
        s
        for s in of_kind(objects, "Service")
        if wanted.items() <= s["metadata"].get("labels", {}).items()
    ]
    assert services, "the ServiceMonitor selects no Service"
    ports = {p["name"] for s in services for p in s["spec"]["ports"]}
    for endpoint in obj["spec"]["endpoints"]:
        assert endpoint["port"] in ports, endpoint
        assert endpoint["path"] == "/metrics"
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"]), endpoint


CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): check_scaled_object,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): check_trigger_authentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): check_service_monitor,
}
CustomCheck = Callable[[dict[str, Any], list[dict[str, Any]]], None]


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize(
    "sets", [(), VARIANT, EXTRAS], ids=["defaults", "existing-secret-no-keda", "all-secrets"]
)
def test_every_rendered_object_is_valid_for_kubernetes(
    helm: str, sets: tuple[str, ...], kube_version: str
) -> None:
    objects = render(helm, *sets)
    assert len(objects) > 10
    for obj in objects:
        name = f"{obj['kind']} {obj['metadata']['name']}"
        custom: CustomCheck | None = CUSTOM.get((obj["apiVersion"], obj["kind"]))
        if custom is not None:
            custom(obj, objects)
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{name} ({obj['apiVersion']}): no schema and no check of its own")
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{name} is invalid for Kubernetes {kube_version}: {err.message}")


def test_the_chart_declares_the_oldest_kubernetes_it_is_validated_for() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={KUBE_VERSIONS[0]}-0"


# --- KEDA ------------------------------------------------------------------------------------


def test_bridge_scales_on_the_lag_of_its_consumer_group(helm: str) -> None:
    objects = render(helm, "kafka.bootstrapServers=kafka-0.kafka:9092\\,kafka-1.kafka:9092")
    scaled = one(objects, "ScaledObject", f"{PREFIX}-bridge")
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{PREFIX}-bridge"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    settings = BridgeSettings()
    assert meta["consumerGroup"] == settings.group_id == "task-bridge"
    assert meta["topic"] == settings.topic == TASKS_TOPIC == "tasks"
    assert meta["bootstrapServers"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
    assert int(meta["lagThreshold"]) > 0
    assert meta["offsetResetPolicy"] == settings.consumer_config()["auto.offset.reset"]
    assert scaled["spec"]["maxReplicaCount"] <= TASKS_PARTITIONS
    assert scaled["spec"]["minReplicaCount"] >= 1


def test_bridge_trigger_follows_a_group_or_topic_set_in_config(helm: str) -> None:
    objects = render(helm, "config.BRIDGE_GROUP_ID=bridge-blue", "config.BRIDGE_TOPIC=tasks-b")
    (trigger,) = one(objects, "ScaledObject", f"{PREFIX}-bridge")["spec"]["triggers"]
    assert (trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]) == (
        "bridge-blue",
        "tasks-b",
    )


def _worker_query(objects: list[dict[str, Any]]) -> str:
    (trigger,) = one(objects, "ScaledObject", f"{PREFIX}-worker")["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    return str(trigger["metadata"]["query"])


def test_workers_scale_on_due_tasks_counted_in_postgresql(helm: str) -> None:
    objects = render(helm)
    scaled = one(objects, "ScaledObject", f"{PREFIX}-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{PREFIX}-worker"
    (trigger,) = scaled["spec"]["triggers"]
    query = _worker_query(objects)
    assert "FROM tasks" in query
    for part in ("status = 'PENDING'", "status = 'RETRYING'", "next_attempt_at <= now()"):
        assert part in query, part
    assert int(trigger["metadata"]["targetQueryValue"]) > 0
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref == {
        "parameter": "connection",
        "name": PREFIX,
        "key": "KEDA_POSTGRESQL_CONNECTION",
    }
    secret = one(objects, "Secret", PREFIX)["stringData"]
    # KEDA's driver reads libpq URLs; the derived one keeps host, user and password.
    assert secret["KEDA_POSTGRESQL_CONNECTION"] == SECRET_VALUES["databaseUrl"].replace(
        "postgresql+psycopg://", "postgresql://"
    )


@pytest.mark.integration
def test_worker_scaling_query_counts_pending_and_due_retrying_tasks(
    helm: str, engine: sa.Engine
) -> None:
    query = sa.text(_worker_query(render(helm)))
    now = datetime.now(UTC)
    rows = [
        ("PENDING", None),
        ("RETRYING", now - timedelta(seconds=5)),
        ("RETRYING", now + timedelta(minutes=10)),
        ("PROCESSING", None),
        ("SCHEDULED", None),
        ("COMPLETED", None),
    ]
    # One snapshot for both counts, so other tests' commits in between cannot move them; the
    # rows are rolled back.
    repeatable = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with repeatable as conn, conn.begin() as tx:
        before = conn.execute(query).scalar_one()
        for status, next_attempt_at in rows:
            task_id = uuid7(now)
            conn.execute(
                sa.insert(tasks_table).values(
                    id=task_id,
                    created_at=created_at_of(task_id),
                    updated_at=now,
                    type="echo",
                    payload={},
                    priority=0,
                    max_attempts=4,
                    status=status,
                    attempts=1 if status == "RETRYING" else 0,
                    next_attempt_at=next_attempt_at,
                )
            )
        after = conn.execute(query).scalar_one()
        tx.rollback()
    assert after - before == 2


def test_bridge_and_worker_replicas_are_static_without_keda(helm: str) -> None:
    objects = render(helm, *VARIANT, "bridge.replicas=5", "worker.replicas=3")
    assert not of_kind(objects, "ScaledObject")
    assert not of_kind(objects, "TriggerAuthentication")
    assert deployment(objects, "bridge")["spec"]["replicas"] == 5
    assert deployment(objects, "worker")["spec"]["replicas"] == 3


def test_bridge_replicas_above_the_partition_count_fail_to_render(helm: str) -> None:
    limit = TASKS_PARTITIONS
    assert deployment(render(helm, "keda.enabled=false", f"bridge.replicas={limit}"), "bridge")
    render(helm, f"bridge.keda.maxReplicas={limit}")
    for value in (f"bridge.replicas={limit + 1}", f"bridge.keda.maxReplicas={limit + 1}"):
        assert "want 32" in render_error(helm, value), value
    # The template refuses it too, for a render that skips the schema.
    code, error = _render_skipping_schema(helm, f"bridge.replicas={limit + 1}")
    assert code != 0
    assert f"exceeds the {limit} partitions" in error
    helpers = (CHART / "templates/_helpers.tpl").read_text()
    assert f'define "taskservice.tasksPartitions" -}}}}{limit}{{{{' in helpers


def _render_skipping_schema(helm: str, *sets: str) -> tuple[int, str]:
    argv = [helm, "template", RELEASE, str(CHART), "--skip-schema-validation"]
    for value in INLINE:
        argv += ["--set-string", value]
    for value in sets:
        argv += ["--set", value]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stderr


# --- processes --------------------------------------------------------------------------------


def test_beat_runs_exactly_one_replica_recreated_on_update(helm: str) -> None:
    for sets in ((), VARIANT):
        beat = deployment(render(helm, *sets), "beat")
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "replicas" in render_error(helm, "beat.replicas=2")


def test_migration_is_a_pre_install_and_pre_upgrade_hook_job(helm: str) -> None:
    for sets in ((), VARIANT):
        objects = render(helm, *sets)
        job = one(objects, "Job", f"{PREFIX}-migration")
        annotations = job["metadata"]["annotations"]
        assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        assert annotations["helm.sh/hook-output-log-policy"] == "hook-failed"
        (c,) = job["spec"]["template"]["spec"]["containers"]
        assert c["command"] == [
            "sh",
            "-c",
            "taskctl migrate && taskctl topics ensure && taskctl partitions ensure",
        ]
        check_entry_point(c["command"])
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        # Hooks run before the release's own objects exist: the job reads only what exists by
        # then, a Secret of its own (weighted before it) or the operator's.
        ref = env(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert "envFrom" not in c
        if sets:
            assert ref["name"] == "ops-secret"
            assert not of_kind(objects, "Secret")
        else:
            hook_secret = one(objects, "Secret", ref["name"])
            hook = hook_secret["metadata"]["annotations"]
            assert hook["helm.sh/hook"] == annotations["helm.sh/hook"]
            assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
            assert hook_secret["stringData"] == {"DATABASE_URL": SECRET_VALUES["databaseUrl"]}


def test_every_process_runs_an_entry_point_of_the_repository(helm: str) -> None:
    objects = render(helm)
    for component in PROCESSES:
        c = container(deployment(objects, component))
        check_entry_point(argv(c))
        if "args" in c:
            # The wrapper only empties /tmp, then becomes the process (exec), so SIGTERM
            # reaches Celery or the API's server directly.
            assert c["command"][:2] == ["/bin/sh", "-c"]
            assert 'exec "$@"' in c["command"][2]


def test_workers_consume_their_own_queue(helm: str) -> None:
    objects = render(helm)
    worker = argv(container(deployment(objects, "worker")))
    assert worker[:6] == ["celery", "-A", "celery_tasks.app", "worker", "-Q", "tasks"]
    assert "--hostname=worker@%h" in worker
    maintenance = argv(container(deployment(objects, "maintenance-worker")))
    assert maintenance[:6] == ["celery", "-A", "celery_tasks.app", "worker", "-Q", "maintenance"]
    joined = " ".join(maintenance)
    assert "-c 2" in joined
    assert "--hostname maintenance@%h" in joined


def _longest_hard_time_limit_s() -> int:
    default = WorkerSettings().time_limit_s
    return max(CATALOG.get(name).time_limit_s or default for name in CATALOG)


def test_worker_grace_period_outlasts_the_longest_hard_time_limit(helm: str) -> None:
    limit = _longest_hard_time_limit_s()
    assert limit == 360
    objects = render(helm)
    for component in ("worker", "maintenance-worker"):
        spec = deployment(objects, component)["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] > limit, component
    assert "want 361" in render_error(helm, f"worker.terminationGracePeriodSeconds={limit}")


def test_api_helm_values_give_an_hpa_on_cpu(helm: str) -> None:
    objects = render(helm)
    hpa = one(objects, "HorizontalPodAutoscaler", f"{PREFIX}-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{PREFIX}-api",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    api = deployment(objects, "api")
    assert "replicas" not in api["spec"]
    assert container(api)["resources"]["requests"]["cpu"]
    assert deployment(render(helm, *VARIANT), "api")["spec"]["replicas"] == 2


def test_relay_runs_two_replicas_with_the_module_entry_point(helm: str) -> None:
    relay = deployment(render(helm), "relay")
    assert relay["spec"]["replicas"] == 2
    assert argv(container(relay)) == ["python", "-m", "relay"]


def test_api_bridge_relay_and_worker_have_disruption_budgets(helm: str) -> None:
    for sets in ((), VARIANT):
        objects = render(helm, *sets)
        budgets = {p["metadata"]["name"]: p for p in of_kind(objects, "PodDisruptionBudget")}
        for component in ("api", "relay", "bridge", "worker"):
            budget = budgets[f"{PREFIX}-{component}"]
            labels = deployment(objects, component)["spec"]["template"]["metadata"]["labels"]
            assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
            assert budget["spec"]["maxUnavailable"] >= 1


# --- probes -----------------------------------------------------------------------------------


def test_every_container_has_probes_or_a_documented_reason(helm: str) -> None:
    for sets in ((), VARIANT):
        for name, template in pod_templates(render(helm, *sets)):
            reason = template["metadata"].get("annotations", {}).get(NO_PROBES, "")
            for c in template["spec"]["containers"]:
                probed = "livenessProbe" in c and "readinessProbe" in c
                assert probed or len(reason.split()) >= 5, f"{name}/{c['name']}"
                assert not (probed and reason), f"{name}: probes and a reason for none"


def test_loops_prove_they_turn_through_their_heartbeat_files(helm: str) -> None:
    variables = {
        "relay": RelaySettings.env_name("heartbeat_file"),
        "bridge": BridgeSettings.env_name("heartbeat_file"),
        "worker": WorkerSettings.env_name("heartbeat_file"),
        "maintenance-worker": WorkerSettings.env_name("heartbeat_file"),
        "beat": WorkerSettings.env_name("heartbeat_file"),
    }
    assert set(variables.values()) == {
        "RELAY_HEARTBEAT_FILE",
        "BRIDGE_HEARTBEAT_FILE",
        "CELERY_TASKS_HEARTBEAT_FILE",
    }
    objects = render(helm)
    for component, variable in variables.items():
        d = deployment(objects, component)
        c = container(d)
        assert env(c)[variable]["value"] == "/tmp/heartbeat", component
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["exec"]["command"] == HEARTBEAT_PROBE, (component, probe)
        check_entry_point(HEARTBEAT_PROBE)
        # /tmp is an emptyDir the wrapper empties at each container start.
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        volumes = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        assert "find /tmp -mindepth 1 -delete" in c["command"][2]


def test_api_probes_keep_pods_in_service_through_a_kafka_outage(helm: str) -> None:
    c = container(deployment(render(helm), "api"))
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz?require=database"
    assert "database" in CHECKS
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    # The pause before SIGTERM and the server's graceful timeout fit in the grace period.
    pause = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
    graceful = int(c["args"][c["args"].index("--graceful-timeout") + 1])
    spec = deployment(render(helm), "api")["spec"]["template"]["spec"]
    assert pause + graceful < spec["terminationGracePeriodSeconds"]


# --- settings and secrets ---------------------------------------------------------------------


def _setting_variables() -> set[str]:
    names: set[str] = set()
    classes: tuple[type[ServiceSettings], ...] = (
        WebSettings, RelaySettings, BridgeSettings, WorkerSettings, BrokerSettings, CliSettings,
        LogSettings,
    )  # fmt: skip
    for cls in classes:
        for field_name, field in cls.model_fields.items():
            nested = isinstance(field.annotation, type) and issubclass(
                field.annotation, ServiceSettings
            )
            if not nested:
                names.add(cls.env_name(field_name))
    return names


def test_every_variable_the_chart_sets_is_read_by_a_process(helm: str) -> None:
    flower = {f"FLOWER_{name.upper()}" for name in flower_options.as_dict()}
    known = _setting_variables() | flower | {"PYTHONDONTWRITEBYTECODE"}
    for sets in ((), VARIANT, EXTRAS):
        objects = render(helm, *sets)
        (config,) = of_kind(objects, "ConfigMap")
        assert set(config["data"]) <= known, set(config["data"]) - known
        for name, template in pod_templates(objects):
            for c in template["spec"]["containers"]:
                assert set(env(c)) <= known, (name, set(env(c)) - known)


def test_no_secret_value_appears_outside_a_secret(helm: str) -> None:
    for sets in ((), EXTRAS, VARIANT):
        for obj in render(helm, *sets):
            if obj["kind"] == "Secret":
                continue
            text = yaml.safe_dump(obj)
            for name, password in PASSWORDS.items():
                assert password not in text, f"{name} password in {obj['kind']}"
    objects = render(helm, *EXTRAS)
    secret = one(objects, "Secret", PREFIX)["stringData"]
    assert PASSWORDS["keda"] in secret["KEDA_POSTGRESQL_CONNECTION"]
    assert PASSWORDS["replica"] in secret["DATABASE_REPLICA_URL"]
    assert secret["WEBAPP_UI_SECRET_KEY"] == f"ui-{PASSWORDS['ui']}"


def test_the_config_map_refuses_credentials(helm: str) -> None:
    credentials = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "FLOWER_BASIC_AUTH")
    for variable in (*credentials, "WEBAPP_UI_SECRET_KEY"):
        assert "invalid propertyName" in render_error(helm, f"config.{variable}=x"), variable


def test_default_values_hold_no_password_and_the_render_asks_for_them(helm: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert all(value == "" for value in values["secrets"].values()), values["secrets"]
    with_password = re.compile(r"[a-z+]+://[^/\s:@]*:[^/\s@]+@")

    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    assert not [s for s in strings(values) if with_password.search(s)]
    error = render_error(helm, strings=())
    assert "secrets.databaseUrl is required (or set secrets.existingSecret)" in error
    partial = tuple(s for s in INLINE if not s.startswith("secrets.flowerBasicAuth"))
    assert "secrets.flowerBasicAuth" in render_error(helm, strings=partial)
    render(helm, "flower.enabled=false", strings=partial)


def test_an_existing_secret_is_the_only_one_referenced(helm: str) -> None:
    objects = render(helm, "secrets.existingSecret=ops-secret", strings=())
    assert not of_kind(objects, "Secret")
    referenced: set[str] = set()
    for _, template in pod_templates(objects):
        for c in template["spec"]["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.add(ref["name"])
    for auth in of_kind(objects, "TriggerAuthentication"):
        referenced |= {ref["name"] for ref in auth["spec"]["secretTargetRef"]}
    assert referenced == {"ops-secret"}


def test_processes_read_only_the_credentials_they_use(helm: str) -> None:
    objects = render(helm)

    def secret_keys(component: str) -> set[str]:
        c = container(deployment(objects, component))
        return {n for n, e in env(c).items() if "secretKeyRef" in e.get("valueFrom", {})}

    assert secret_keys("relay") == {"DATABASE_URL"}
    assert secret_keys("bridge") == {"CELERY_BROKER_URL"}
    assert secret_keys("beat") == {"CELERY_BROKER_URL"}
    assert secret_keys("flower") == {"CELERY_BROKER_URL", "FLOWER_BASIC_AUTH"}
    assert secret_keys("worker") == {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    assert secret_keys("api") == {
        "DATABASE_URL",
        "DATABASE_REPLICA_URL",
        "REDIS_URL",
        "WEBAPP_RATE_LIMIT_STORAGE_URL",
        "WEBAPP_UI_SECRET_KEY",
    }


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_listen_on_all_interfaces_on_the_documented_ports(helm: str) -> None:
    objects = render(helm)
    expected = {
        "relay": ("RELAY", 9101),
        "bridge": ("BRIDGE", 9102),
        "worker": ("CELERY_TASKS", 9103),
        "maintenance-worker": ("CELERY_TASKS", 9103),
    }
    for component, (prefix, port) in expected.items():
        d = deployment(objects, component)
        c = container(d)
        variables = {n: e.get("value") for n, e in env(c).items()}
        assert variables[f"{prefix}_METRICS_ADDRESS"] == "0.0.0.0", component
        assert variables[f"{prefix}_METRICS_PORT"] == str(port), component
        assert {"name": "metrics", "containerPort": port} in c["ports"]
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
    for component in ("api", "flower"):
        d = deployment(objects, component)
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["prometheus.io/port"] == str(container(d)["ports"][0]["containerPort"])


def test_processes_with_prefork_children_get_a_multiprocess_folder_on_an_empty_dir(
    helm: str,
) -> None:
    objects = render(helm)
    for component in ("api", "worker", "maintenance-worker"):
        c = container(deployment(objects, component))
        folder = env(c)["PROMETHEUS_MULTIPROC_DIR"]["value"]
        assert folder.startswith("/tmp/"), component
        # The wrapper creates it in the freshly emptied /tmp.
        assert 'mkdir -p "${PROMETHEUS_MULTIPROC_DIR:-/tmp}"' in c["command"][2]


def test_service_monitor_reaches_every_process_with_metrics(helm: str) -> None:
    objects = render(helm, *VARIANT)
    (monitor,) = of_kind(objects, "ServiceMonitor")
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    for component in ("api", "relay", "bridge", "worker", "maintenance-worker"):
        labels = deployment(objects, component)["spec"]["template"]["metadata"]["labels"]
        services = [
            s
            for s in of_kind(objects, "Service")
            if s["spec"]["selector"].items() <= labels.items()
        ]
        assert any(p["name"] in ports for s in services for p in s["spec"]["ports"]), component
    # With the ServiceMonitor alone, no annotation invites a second scrape of the same pods.
    annotations = deployment(objects, "relay")["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in annotations
