"""docker-compose.yml cannot run here (no Docker daemon), so its structure is checked instead:
services, dependencies, mounted files, ports, and that each command's entry point exists."""

import shlex
from pathlib import Path
from typing import Any

import yaml

from tests.ops.entrypoints import check_entry_point

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {
    "postgres", "postgres-replica", "redis", "kafka", "migrate", "api", "relay", "bridge",
    "worker", "beat", "flower", "prometheus", "grafana", "celery-exporter",
}  # fmt: skip


def _services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def _depends(service: dict[str, Any]) -> set[str]:
    deps = service.get("depends_on") or []
    return set(deps if isinstance(deps, list) else deps.keys())


def _argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return argv


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
    built = {n: s for n, s in _services().items() if "build" in s}
    assert set(built) == {"migrate", "api", "relay", "bridge", "worker", "beat", "flower"}
    assert (REPO / built["api"]["build"] / "Dockerfile").is_file()
    for name, service in built.items():
        argv = _argv(service)
        assert argv, f"{name} has no command"
        check_entry_point(argv)


def test_mounted_files_exist_and_published_ports_are_unique():
    ports: list[str] = []
    for name, service in _services().items():
        assert "image" in service or "build" in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
        ports += [p.split(":")[0] for p in service.get("ports", [])]
    assert len(ports) == len(set(ports)), ports


def test_prometheus_in_compose_scrapes_compose_services():
    services = _services()
    command = services["prometheus"]["command"]
    config_file = next(a for a in command if a.startswith("--config.file=")).split("=", 1)[1]
    config = yaml.safe_load((REPO / "ops/prometheus" / Path(config_file).name).read_text())
    for job in config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host = target.split(":")[0]
            assert host == "localhost" or host in services, f"{job['job_name']}: {target}"


def test_processes_with_several_children_get_a_fresh_multiprocess_folder():
    services = _services()
    for name in ("api", "worker"):
        folder = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert folder in services[name]["tmpfs"], name
