"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the Compose file
against the Compose Specification's JSON schema, and every variable against the settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bot.config import environment_names

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
# Read by Compose itself (interpolation in docker-compose.yml), not by the bot.
COMPOSE_ONLY = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "HTTP_PUBLISH_PORT"}
SETTINGS = set(environment_names())


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_docker_compose_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda error: list(error.path))
    assert [f"{list(error.path)}: {error.message}" for error in errors] == []


def test_the_schema_check_catches_a_broken_file() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = compose()
    broken["services"]["bot"]["depends_on"]["migrate"]["condition"] = "when_it_feels_like_it"
    broken["services"]["redis"]["healthcheck"]["interval"] = ["10s"]
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_every_service_of_the_bot_speaks_the_settings_contract() -> None:
    services = compose()["services"]
    bot_services = [name for name, service in services.items() if "build" in service]
    assert sorted(bot_services) == ["bot", "migrate"]
    for name in bot_services:
        service = services[name]
        assert service["env_file"] == ".env"
        unknown = set(service.get("environment", {})) - SETTINGS
        assert unknown == set(), f"{name} sets variables the bot does not read: {unknown}"
        assert {"DATABASE_URL", "REDIS_URL"} <= set(service["environment"])
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_every_variable_an_operator_may_set_is_known() -> None:
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert names - SETTINGS - COMPOSE_ONLY == set()
    # Every setting added by this work is documented for operators.
    assert {"WEBHOOK_URL", "WEBHOOK_SECRET", "REDIS_URL", "LOG_FORMAT"} <= names
    interpolated = set(
        re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text())
    )
    assert interpolated <= names, interpolated - names
    assert interpolated <= COMPOSE_ONLY | SETTINGS


def test_services_are_healthchecked_and_started_in_order() -> None:
    services = compose()["services"]
    for name in ("postgres", "redis", "bot"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["command"][-1] == "migrate"
    bot = services["bot"]
    assert bot["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert bot["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert bot["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    volumes = set(compose()["volumes"])
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source in volumes, f"volume {source} is not declared"


def test_the_image_is_slim_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim\b", dockerfile, flags=re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert "HEALTHCHECK" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "tests"} <= set(ignored)


def test_the_http_api_is_published_on_the_loopback_interface_only() -> None:
    published = compose()["services"]["bot"]["ports"]
    assert published == ["127.0.0.1:${HTTP_PUBLISH_PORT:-8080}:8080"]
    assert all(
        service.get("ports") is None
        for name, service in compose()["services"].items()
        if name != "bot"
    )
