"""docker-compose.yml cannot run here (no Docker daemon), so its structure is checked instead:
services, dependencies, mounted files, ports, and that each command's entry point exists; what
`docker compose config` would refuse (unknown keys, missing services and volumes, duplicate
keys, variables without a default); and the properties the stack relies on."""

import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from celery_tasks.catalog import CATALOG
from celery_tasks.config import celery_config
from celery_tasks.names import MAINTENANCE_QUEUE, TASKS_QUEUE
from celery_tasks.settings import BrokerSettings, WorkerSettings
from tests.ops.entrypoints import check_entry_point

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
EXPECTED = {
    "postgres", "postgres-replica", "redis", "kafka", "migrate", "api", "relay", "bridge",
    "worker", "maintenance-worker", "beat", "flower", "prometheus", "grafana", "celery-exporter",
}  # fmt: skip
APP_SERVICES = {
    "migrate", "api", "relay", "bridge", "worker", "maintenance-worker", "beat", "flower",
}  # fmt: skip
DATA_SERVICES = {"postgres", "postgres-replica", "redis", "kafka", "prometheus", "grafana"}
HEARTBEAT = ["CMD", "python", "-m", "taskkit.heartbeat", "/tmp/heartbeat", "--max-age-s", "60"]
# The top-level keys of the Compose specification; `x-` keys are extensions.
TOP_LEVEL = {"version", "name", "include", "services", "networks", "volumes", "configs", "secrets"}
# The service keys of the Compose specification that a service of this file may use.
SERVICE_KEYS = {
    "build", "command", "container_name", "depends_on", "deploy", "entrypoint", "env_file",
    "environment", "expose", "healthcheck", "image", "init", "labels", "logging", "networks",
    "platform", "ports", "profiles", "pull_policy", "read_only", "restart", "secrets",
    "stop_grace_period", "stop_signal", "tmpfs", "ulimits", "user", "volumes", "working_dir",
}  # fmt: skip
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, as Compose does (PyYAML keeps
    the last one silently, which would hide a second service of the same name)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        assert key not in seen, f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load(text: str) -> dict[str, Any]:
    # A SafeLoader subclass: no arbitrary objects.
    loaded: dict[str, Any] = yaml.load(text, Loader=_StrictLoader)
    return loaded


def _compose() -> dict[str, Any]:
    return _load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _depends(service: dict[str, Any]) -> set[str]:
    deps = service.get("depends_on") or []
    return set(deps if isinstance(deps, list) else deps.keys())


def _argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return argv


def _published(port: str) -> tuple[str, str]:
    """(host address, host port) of a short-syntax `ports` entry; address "" when unbound."""
    parts = str(port).split(":")
    if len(parts) == 3:
        return parts[0], parts[1]
    return "", parts[0]


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and any(match.groups()), duration
    minutes, seconds = (int(g or 0) for g in match.groups())
    return minutes * 60 + seconds


def _longest_hard_time_limit_s() -> int:
    default = WorkerSettings().time_limit_s
    return max(CATALOG.get(name).time_limit_s or default for name in CATALOG)


def test_compose_has_every_service_of_the_stack():
    assert set(_services()) == EXPECTED


def test_every_dependency_exists_and_there_is_no_cycle():
    services = _services()
    for name, service in services.items():
        deps = _depends(service)
        assert deps <= set(services), f"{name} depends on unknown {deps - set(services)}"
        assert name not in deps, f"{name} depends on itself"
    done: set[str] = set()
    remaining = dict(services)
    while remaining:
        ready = [n for n, s in remaining.items() if _depends(s) <= done]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for name in ready:
            done.add(name)
            del remaining[name]


def test_app_services_run_entry_points_that_exist_in_the_repo():
    services = _services()
    app = {n: s for n, s in services.items() if s.get("image") == services["migrate"]["image"]}
    assert set(app) == APP_SERVICES
    assert (REPO / services["migrate"]["build"] / "Dockerfile").is_file()
    for name, service in app.items():
        argv = _argv(service)
        assert argv, f"{name} has no command"
        check_entry_point(argv)


def test_one_image_is_built_once_and_every_python_service_runs_it():
    services = _services()
    built = {n for n, s in services.items() if "build" in s}
    assert built == {"migrate"}
    # Compose builds the image before starting a service that needs it only when the builder is
    # part of the run: every other app service depends on it.
    for name in APP_SERVICES - built:
        assert "migrate" in _depends(services[name]), name


def test_mounted_files_exist_and_published_ports_are_unique():
    ports: list[str] = []
    for name, service in _services().items():
        assert "image" in service or "build" in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
        ports += [_published(p)[1] for p in service.get("ports", [])]
    assert len(ports) == len(set(ports)), ports


def test_prometheus_in_compose_scrapes_compose_services():
    services = _services()
    command = services["prometheus"]["command"]
    config_file = next(a for a in command if a.startswith("--config.file=")).split("=", 1)[1]
    config = yaml.safe_load((REPO / "ops/prometheus" / Path(config_file).name).read_text())
    for job in config["scrape_configs"]:
        targets = [t.split(":")[0] for c in job.get("static_configs", []) for t in c["targets"]]
        targets += [n for c in job.get("dns_sd_configs", []) for n in c["names"]]
        assert targets, job["job_name"]
        for host in targets:
            assert host == "localhost" or host in services, f"{job['job_name']}: {host}"


def test_prometheus_finds_every_replica_of_scalable_services_by_dns():
    config = yaml.safe_load((REPO / "ops/prometheus/prometheus-compose.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    wanted = {
        "api": ({"api"}, 8080),
        "relay": ({"relay"}, 9101),
        "bridge": ({"bridge"}, 9102),
        "worker": ({"worker", "maintenance-worker"}, 9103),
    }
    for job_name, (names, port) in wanted.items():
        job = jobs[job_name]
        assert "static_configs" not in job, job_name
        (sd,) = job["dns_sd_configs"]
        assert set(sd["names"]) == names
        assert (sd["type"], sd["port"]) == ("A", port)


def test_processes_with_several_children_get_a_fresh_multiprocess_folder():
    services = _services()
    for name in ("api", "worker", "maintenance-worker"):
        folder = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert folder in services[name]["tmpfs"], name


# --- what `docker compose config` would refuse ------------------------------------------------


def test_only_keys_of_the_compose_specification_are_used():
    compose = _compose()
    unknown = {k for k in compose if k not in TOP_LEVEL and not k.startswith("x-")}
    assert not unknown, unknown
    for name, service in compose["services"].items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)


def test_no_key_is_given_twice():
    _compose()
    duplicated = COMPOSE.read_text().replace("  api:\n", "  api:\n    image: x\n  api:\n", 1)
    try:
        _load(duplicated)
    except AssertionError as err:
        assert "duplicate key 'api'" in str(err)
    else:
        raise AssertionError("a second service named api went unnoticed")


def test_dependencies_name_services_with_valid_conditions():
    services = _services()
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            continue
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on missing {dep}"
            condition = spec["condition"]
            assert condition in CONDITIONS, (name, dep, condition)
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} must run once"


def test_named_volumes_are_declared():
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith(("./", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
                used.add(source)
    assert used == declared, declared - used


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def test_every_variable_has_a_default_and_is_documented():
    # Compose interpolates every string of the file, keys included, but not comments.
    values = [s.replace("$$", "") for s in _strings(_compose())]
    bare = [s for s in values if re.search(r"\$(?!\{)[A-Za-z_]", s)]
    assert not bare, f"use ${{NAME:-default}}: {bare}"
    references = [r for s in values for r in re.findall(r"\$\{([^}]*)\}", s)]
    names = set()
    for reference in references:
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*):-(.*)", reference)
        assert match, f"${{{reference}}} has no default: a fresh shell would fail every command"
        names.add(match.group(1))
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names == documented
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_published_ports_listen_on_loopback_only():
    services = _services()
    for name in DATA_SERVICES:
        assert name in services, name
    for name, service in services.items():
        for port in service.get("ports", []):
            address, _ = _published(port)
            assert address == "127.0.0.1", f"{name} publishes {port} on every interface"


# --- what the stack relies on -----------------------------------------------------------------


def test_kafka_writes_its_log_to_the_volume():
    kafka = _services()["kafka"]
    mounts = dict(v.split(":")[:2] for v in kafka["volumes"])
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == mounts["kafka-data"]


def test_the_replica_streams_from_a_physical_slot():
    services = _services()
    replica = services["postgres-replica"]
    slot = replica["environment"]["REPLICATION_SLOT"]
    assert re.fullmatch(r"[a-z0-9_]+", slot)
    script = (REPO / "ops/docker/replica-entrypoint.sh").read_text()
    basebackup = next(line for line in script.splitlines() if line.strip().startswith("pg_base"))
    # -R writes primary_conninfo and, with -S, primary_slot_name.
    assert '-S "$REPLICATION_SLOT"' in basebackup
    assert " -R " in basebackup
    assert "pg_create_physical_replication_slot" in script
    primary = " ".join(services["postgres"]["command"])
    assert "max_replication_slots=" in primary
    # A slot keeps WAL for a replica that is down; the primary bounds how much.
    assert "max_slot_wal_keep_size=" in primary


def test_the_primary_runs_with_the_local_stacks_wal_and_checkpoint_settings():
    # ops/stack_postgres.sh writes the local primary's settings, one `name = value` a line;
    # the ones that shape the WAL (how often full-page images, how big) are the same in Compose.
    script = (REPO / "ops/stack_postgres.sh").read_text()
    local = dict(re.findall(r"^(\w+) = '?([^'\n]+?)'?$", script, re.MULTILINE))
    command = _services()["postgres"]["command"]
    compose = dict(arg.split("=", 1) for arg in command[2::2] if "=" in arg)
    assert command[1::2] == ["-c"] * len(command[1::2])
    for name in ("checkpoint_timeout", "max_wal_size", "wal_compression"):
        assert compose[name] == local[name], name
    assert compose["wal_compression"] == "lz4"


def test_the_api_waits_for_the_primary_only():
    deps = _services()["api"]["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert set(deps) == {"migrate", "postgres"}


def test_workers_get_the_longest_hard_time_limit_to_stop():
    limit = _longest_hard_time_limit_s()
    assert limit == 360
    services = _services()
    for name in ("worker", "maintenance-worker"):
        assert _seconds(services[name]["stop_grace_period"]) > limit, name


def test_each_worker_consumes_one_queue():
    services = _services()
    worker = _argv(services["worker"])
    assert worker[:6] == ["celery", "-A", "celery_tasks.app", "worker", "-Q", TASKS_QUEUE]
    maintenance = " ".join(_argv(services["maintenance-worker"]))
    assert maintenance.startswith(f"celery -A celery_tasks.app worker -Q {MAINTENANCE_QUEUE}")
    assert "-c 2" in maintenance
    assert "--hostname maintenance@%h" in maintenance


def test_relay_runs_as_a_module():
    assert _argv(_services()["relay"]) == ["python", "-m", "relay"]


def test_loops_report_their_heartbeat_as_health():
    services = _services()
    variables = {
        "relay": "RELAY_HEARTBEAT_FILE",
        "bridge": "BRIDGE_HEARTBEAT_FILE",
        "worker": "CELERY_TASKS_HEARTBEAT_FILE",
        "maintenance-worker": "CELERY_TASKS_HEARTBEAT_FILE",
        "beat": "CELERY_TASKS_HEARTBEAT_FILE",
    }
    for name, variable in variables.items():
        assert services[name]["environment"][variable] == HEARTBEAT[4], name
        assert services[name]["healthcheck"]["test"] == HEARTBEAT, name
    check_entry_point(HEARTBEAT[1:])


def test_celery_exporter_measures_every_priority_list_of_both_queues():
    options = celery_config(BrokerSettings())["broker_transport_options"]
    sep, steps = options["sep"], options["priority_steps"]
    # kombu's Redis transport names the list of step 0 after the queue, the others queue+sep+step.
    lists = {
        queue if step == 0 else f"{queue}{sep}{step}"
        for queue in (TASKS_QUEUE, MAINTENANCE_QUEUE)
        for step in steps
    }
    argv = _services()["celery-exporter"]["command"]
    (queues,) = [a.removeprefix("--queues=") for a in argv if a.startswith("--queues=")]
    assert set(queues.split(",")) == lists
    given = {
        a.removeprefix("--broker-transport-option=").split("=", 1)[0]: a.split("=", 2)[2]
        for a in argv
        if a.startswith("--broker-transport-option=")
    }
    assert given["sep"] == sep
    assert given["queue_order_strategy"] == options["queue_order_strategy"]
    assert yaml.safe_load(given["priority_steps"]) == steps


def test_images_are_pinned_to_current_releases():
    services = _services()
    pom = ET.parse(REPO / "ops/kafka/pom.xml").getroot()
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    kafka_version = pom.findtext("m:properties/m:kafka.version", namespaces=namespace)
    expected = {
        "postgres": r"postgres:17\.\d+-bookworm",
        "postgres-replica": r"postgres:17\.\d+-bookworm",
        "redis": r"redis:8\.\d+\.\d+-bookworm",
        "kafka": rf"apache/kafka:{re.escape(kafka_version or '?')}",
        "prometheus": r"prom/prometheus:v3\.\d+\.\d+",
        "grafana": r"grafana/grafana:12\.\d+\.\d+",
        "celery-exporter": r"ghcr\.io/danihodovic/celery-exporter:\d+\.\d+\.\d+",
    }
    for name, pattern in expected.items():
        assert re.fullmatch(pattern, services[name]["image"]), (name, services[name]["image"])
    assert services["postgres"]["image"] == services["postgres-replica"]["image"]
