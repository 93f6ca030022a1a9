"""compose.yaml and the Dockerfile: the deployment wires what the code actually reads.

Docker is not needed: the file is parsed and checked against Settings itself. When a
docker CLI with the compose plugin is present, `docker compose config` validates it too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from threadkeeper.auth import check_bind
from threadkeeper.daemon.redis_server import BUNDLED_CONF
from threadkeeper.settings import PREFIX, Settings, env_names

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read compose.yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
THREADKEEPER_SERVICES = {"api": "serve", "worker": "worker", "cron": "cron"}
NEEDED = {
    "THREADKEEPER_REDIS_URL",
    "THREADKEEPER_ARCHIVE_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
}
HOST_ENV = {"MINIO_ROOT_PASSWORD": "test-password"}  # what an operator's .env must set
_VAR = re.compile(r"\$\$|\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, enough for this file."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, arg = match.groups()
        if name in env and env[name] != "":
            return env[name]
        if kind == "?":
            raise AssertionError(f"compose.yaml requires {name}: {arg}")
        return arg if kind == "-" else ""

    return _VAR.sub(sub, value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping"
    return {name: _interpolate(str(value), HOST_ENV) for name, value in env.items()}


def _is_threadkeeper(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).startswith("threadkeeper") or "build" in service


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "minio", "minio-init", "api", "worker", "cron"} <= set(services)
    assert services["redis"]["image"].startswith("redis:7")
    assert services["minio"]["image"].startswith("minio/minio")
    assert {name for name, s in services.items() if _is_threadkeeper(s)} == set(
        THREADKEEPER_SERVICES
    )


@pytest.mark.parametrize("name", sorted(THREADKEEPER_SERVICES))
def test_threadkeeper_services_use_only_variables_the_code_reads(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    env = _environment(service)
    ours = {key for key in env if key.startswith(PREFIX)}
    assert ours <= env_names(), f"{name} sets variables nothing reads: {ours - env_names()}"
    assert NEEDED <= set(env), f"{name} lacks {NEEDED - set(env)}"
    assert service["command"] == ["threadkeeper", THREADKEEPER_SERVICES[name]]
    settings = Settings.from_env(env)  # every value parses, as at the service's start
    assert urlsplit(settings.redis_url or "").hostname in compose["services"]
    assert urlsplit(env["AWS_ENDPOINT_URL"]).hostname == "minio"
    assert (settings.archive_url or "").startswith("s3://")


def test_the_api_binds_all_interfaces_with_tokens_on_a_volume(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    settings = Settings.from_env(_environment(api))
    assert settings.host == "0.0.0.0" and settings.tokens_file is not None
    check_bind(settings.host, settings.tokens_file is not None)  # what `serve` checks
    mounts = [str(v).split(":") for v in api["volumes"]]
    assert any(settings.tokens_file.parent == Path(target) for _, target, *_ in mounts)
    assert any(str(settings.port) == str(p).rsplit(":", 1)[-1] for p in api["ports"])


def test_redis_runs_the_projects_conf_on_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    mounts = {src: target for src, target, *_ in (str(v).split(":") for v in redis["volumes"])}
    # One file: the repository's top-level redis.conf is a link to the one pip ships.
    assert "./redis.conf" in mounts and (ROOT / "redis.conf").is_symlink()
    assert (ROOT / "redis.conf").resolve() == BUNDLED_CONF
    assert redis["command"][:2] == ["redis-server", mounts["./redis.conf"]]
    assert any(target == "/data" for src, target in mounts.items() if src in compose["volumes"])
    conf = BUNDLED_CONF.read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
    port = redis["command"][redis["command"].index("--port") + 1]
    assert urlsplit(_environment(compose["services"]["api"])["THREADKEEPER_REDIS_URL"]).port == int(
        port
    )


def test_the_bucket_is_created_before_threadkeeper_starts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["minio-init"]
    assert init["image"].startswith("minio/mc")
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = _interpolate(" ".join(init["command"]), HOST_ENV)
    container_env = _environment(init)  # what the shell in the container expands
    script = re.sub(r"\$(\w+)", lambda m: container_env.get(m.group(1), ""), script)
    archive = Settings.from_env(_environment(services["api"])).archive_url or ""
    assert f'mc mb --ignore-existing "tk/{urlsplit(archive).netloc}"' in script
    for name in THREADKEEPER_SERVICES:
        needs = services[name]["depends_on"]
        assert needs["minio-init"]["condition"] == "service_completed_successfully"
        assert needs["redis"]["condition"] == "service_healthy"


def test_the_dockerfile_installs_the_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "pip install ." in text
    assert re.search(r'^CMD \["threadkeeper", "serve"\]$', text, re.M)


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30
    )
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker CLI with the compose plugin here: `docker compose config` not run")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **HOST_ENV},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
