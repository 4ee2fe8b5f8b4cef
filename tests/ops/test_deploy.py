"""The production path: Dockerfile, entrypoint and compose.yaml hold together.

No Docker engine runs here, so the image is not built in tests; the files are checked for
structure, and every SIAGA_ variable compose sets must be one the settings know (a typo would
otherwise be silently ignored). When a compose client is installed (`docker compose` or
Debian's `docker-compose`), `config -q` must validate too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from service.settings import _CONCERNS, _TopLevel

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _known_env_names() -> set[str]:
    names = {"DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"}
    classes: list[type[BaseSettings]] = [_TopLevel, *_CONCERNS.values()]
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def test_compose_services_and_settings() -> None:
    doc = _compose()
    services = doc["services"]
    assert services["db"]["image"].startswith("postgis/postgis:")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    api, worker = services["api"], services["worker"]
    assert api["command"][0] == "serve" and worker["command"] == ["worker"]
    assert worker["deploy"]["replicas"] >= 1
    for svc in (api, worker):
        assert svc["depends_on"]["db"]["condition"] == "service_healthy"
        env = svc["environment"]
        assert env["SIAGA_ENV"] == "production"
        assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]  # no default password
        unknown = sorted(set(env) - _known_env_names())
        assert not unknown, f"compose sets variables the settings do not read: {unknown}"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])


def test_dockerfile_is_multistage_slim_nonroot_and_migrates() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, flags=re.MULTILINE)
    assert len(stages) >= 2
    assert "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", text).group(1)  # type: ignore[union-attr]
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    # GDAL comes inside the rasterio/pyogrio wheels: no OS GIS packages, no compiler.
    assert not re.search(r"apt-get[^\n]*(gdal|gcc|build-essential)", text, flags=re.IGNORECASE)
    assert "--only-binary=:all:" in text
    # The entrypoint is a heredoc in the Dockerfile: migrate, then exec the command.
    match = re.search(r"<<'ENTRYPOINT_SH'[^\n]*\n(.*?)^ENTRYPOINT_SH$", text, re.S | re.M)
    assert match, "Dockerfile has no entrypoint heredoc"
    entrypoint = match.group(1)
    assert "db upgrade" in entrypoint and 'exec python -m service "$@"' in entrypoint
    assert subprocess.run(["sh", "-n"], input=entrypoint.encode()).returncode == 0


def _compose_client() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_validates_when_a_client_exists() -> None:
    client = _compose_client()
    env = {**os.environ, "POSTGRES_PASSWORD": "test-only-password"}
    if client is None:
        # No compose client on this machine: the structural test above is the check.
        assert _compose()["services"]
        return
    ok = subprocess.run(
        [*client, "-f", "compose.yaml", "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    env.pop("POSTGRES_PASSWORD")
    refused = subprocess.run(
        [*client, "-f", "compose.yaml", "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr
