"""The production compose file parses, runs every role, and passes only known settings.

No Docker engine runs on development or CI machines, so this reads the file as compose does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import check_unknown_env

pytestmark = pytest.mark.foundation
COMPOSE = Path(__file__).parents[2] / "compose" / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_every_role_has_a_service(compose: dict[str, Any]) -> None:
    commands = {tuple(s.get("command") or ()) for s in compose["services"].values()}
    for role in ("migrate", "api", "worker", "agent-worker", "deploy-worker"):
        assert (role,) in commands, f"no service runs `polygent {role}`"
    images = " ".join(str(s.get("image", "")) for s in compose["services"].values())
    for image in ("postgres:", "temporalio/server:", "temporalio/admin-tools:", "temporalio/ui:"):
        assert image in images
    assert "auto-setup" not in images  # the retired image


def test_dependencies_exist_and_long_runners_have_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on unknown service {dep}"
    for name in ("postgresql", "temporal"):
        assert "healthcheck" in services[name]
    api = next(s for s in services.values() if s.get("command") == ["api"])
    assert "readyz" in str(api["healthcheck"]["test"])
    for vol in compose.get("volumes", {}):
        assert re.search(rf"\b{vol}:", COMPOSE.read_text())


def test_polygent_services_pass_only_known_settings(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        polygent = {k: str(v) for k, v in env.items() if k.startswith("POLYGENT_")}
        check_unknown_env(polygent)  # raises ConfigError naming an unknown variable
        if svc.get("command") in (["api"], ["worker"], ["migrate"]):
            assert "POLYGENT_DATABASE_URL" in polygent and "POLYGENT_ENCRYPTION_KEY" in polygent, (
                name
            )
