"""Settings: defaults, validation to one sentence, unknown variables, agent config files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.config import AgentSettings, ConfigError, ServerSettings, load_settings

pytestmark = pytest.mark.foundation


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("POLYGENT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("POLYGENT_DATA_DIR", str(tmp_path))


def test_defaults_are_the_embedded_stack(tmp_path: Path) -> None:
    s = load_settings(ServerSettings)
    assert s.embedded_temporal
    assert s.effective_temporal_address == "127.0.0.1:7233"
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'polygent.db'}"
    assert s.effective_public_url == "http://127.0.0.1:8000"
    assert s.effective_temporal_ui_url == "http://127.0.0.1:8233"


@pytest.mark.parametrize(
    ("var", "value", "sentence"),
    [
        ("POLYGENT_API_PORT", "70000", "Invalid setting POLYGENT_API_PORT: Input should be less"),
        (
            "POLYGENT_API_PORT",
            "eighty",
            "Invalid setting POLYGENT_API_PORT: Input should be a valid integer",
        ),
        (
            "POLYGENT_DATABASE_URL",
            "mysql://x",
            "Invalid setting POLYGENT_DATABASE_URL: must start with",
        ),
        (
            "POLYGENT_TEMPORAL_ADDRESS",
            "nohostport",
            "Invalid setting POLYGENT_TEMPORAL_ADDRESS: must be host:port",
        ),
        ("POLYGENT_LOG_LEVEL", "chatty", "Invalid setting POLYGENT_LOG_LEVEL"),
        ("POLYGENT_APIPORT", "8000", "Unknown setting POLYGENT_APIPORT"),
    ],
)
def test_bad_settings_are_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    var: str,
    value: str,
    sentence: str,
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match="^" + sentence.replace("(", r"\(")):
        load_settings(ServerSettings)
    assert main(["api"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"polygent: {sentence}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_agent_settings_from_file(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.json"
    cfg.write_text(
        json.dumps(
            {
                "Agent": {
                    "Name": "build-01",
                    "MainServerUrl": "https://polygent.example.com",
                    "ApiKey": "pgk_0123abcd_secretsecretsecret",
                    "StoragePath": str(tmp_path / "s"),
                }
            }
        )
    )
    from orchestrator.config import read_agent_file

    s = load_settings(AgentSettings, **read_agent_file(cfg))
    assert s.name == "build-01"
    assert s.storage_path == tmp_path / "s"
    assert "secretsecret" not in repr(s)


def test_agent_file_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('Name = "a"\nWorkspaces = []\n')
    from orchestrator.config import read_agent_file

    with pytest.raises(ConfigError, match="Unknown key Workspaces"):
        read_agent_file(cfg)


def test_agent_needs_its_four_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent-worker"]) == 2
    assert "Missing setting POLYGENT_AGENT_" in capsys.readouterr().err


def test_agent_rejects_a_non_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POLYGENT_AGENT_NAME", "h1")
    monkeypatch.setenv("POLYGENT_AGENT_MAIN_SERVER_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("POLYGENT_AGENT_API_KEY", "hunter22")
    monkeypatch.setenv("POLYGENT_AGENT_STORAGE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="POLYGENT_AGENT_API_KEY: is not a Polygent host API key"):
        load_settings(AgentSettings)


def test_help_lists_roles_and_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for word in (
        "up",
        "api",
        "worker",
        "agent-worker",
        "deploy-worker",
        "migrate",
        "POLYGENT_DATABASE_URL",
    ):
        assert word in out
