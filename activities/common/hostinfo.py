"""Facts about the machine an agent runs on: git version, free disk, installed agent CLIs."""

from __future__ import annotations

import asyncio
import platform
import shutil
import socket
from pathlib import Path

from orchestrator.contracts.hosts import HostReport
from orchestrator.settings.providers import PROVIDERS

# The external agent CLIs (the built-in agent has none) and the executable each installs.
AGENT_CLIS = {p.id: p.cli for p in PROVIDERS.values() if p.cli is not None}


async def command_version(exe: str, timeout: float = 10.0) -> str | None:
    """First line of `<exe> --version`, or None when it is missing or does not answer."""
    path = shutil.which(exe)
    if path is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            path,
            "--version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return "unknown (no answer to --version)"
    lines = out.decode(errors="replace").strip().splitlines()
    return lines[0][:120] if lines else ""


async def host_report(kind: str, disk_path: Path) -> HostReport:
    disk_path.mkdir(parents=True, exist_ok=True)
    git, *clis = await asyncio.gather(
        command_version("git"), *(command_version(exe) for exe in AGENT_CLIS.values())
    )
    return HostReport(
        kind=kind,
        hostname=socket.gethostname(),
        git_version=git,
        free_disk_bytes=shutil.disk_usage(disk_path).free,
        disk_path=str(disk_path),
        clis=dict(zip(AGENT_CLIS, clis, strict=True)),
        python_version=platform.python_version(),
    )
