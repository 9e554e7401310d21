"""What `docker compose up` and the image rely on, read from the files themselves: the
worker and the API start only after the migration, both have healthchecks, secrets come
from .env, and one image is built once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN", re.IGNORECASE)


def test_migrations_run_once_before_the_api_and_the_worker() -> None:
    assert SERVICES["migrate"]["command"] == ["adledger", "migrate"]
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        needs = SERVICES[name]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}, name
    # The API no longer migrates on its own start (two replicas would race).
    assert "migrate" not in str(SERVICES["api"]["command"])


def test_api_and_worker_have_healthchecks() -> None:
    assert "/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    assert SERVICES["worker"]["healthcheck"]["test"] == ["CMD", "adledger", "worker", "--check"]


def test_one_image_is_built_once_and_shared() -> None:
    built = [name for name, service in SERVICES.items() if "build" in service]
    ours = {name for name, service in SERVICES.items() if service.get("image") == "adledger:local"}

    assert built == ["migrate"]
    assert ours == {"migrate", "api", "worker"}


def test_secrets_come_from_the_env_file_never_inline() -> None:
    for name, service in SERVICES.items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert str(value).startswith("${"), f"{name}.{key} is inline"
            assert "change-me" not in str(value)
        if name in ("migrate", "api", "worker"):
            assert service["env_file"] == ".env"
    url = SERVICES["api"]["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD" in url


def test_the_env_example_names_every_secret_and_env_is_ignored() -> None:
    example = (ROOT / ".env.example").read_text()
    for name in ("POSTGRES_PASSWORD", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"):
        assert f"{name}=" in example
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


@pytest.mark.parametrize("name", ["api", "worker"])
def test_production_commands_do_not_rely_on_embedded_servers(name: str) -> None:
    assert SERVICES[name]["command"][:2] in (["adledger", "serve"], ["adledger", "worker"])
    assert "DATABASE_URL" in SERVICES[name]["environment"]
    assert "REDIS_URL" in SERVICES[name]["environment"]


def test_the_image_installs_no_extras() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "pip install ." in dockerfile
    assert "[dev]" not in dockerfile and "[embedded]" not in dockerfile
