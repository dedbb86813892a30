"""Session-agent activity `git.ls_remote`: does a git URL answer, and has it the branch?

The token arrives as a secret reference, redeemed through the API just before git runs.
It reaches git only through the environment (`GIT_CONFIG_COUNT` + `http.extraHeader`), never
argv or a config file, so `ps` and `.git/config` never show it; stored credential helpers
are switched off so the workspace token is the only credential git can use.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from temporalio import activity

from orchestrator.contracts.git import GitCheckInput, GitCheckResult
from orchestrator.hostagent.client import AgentRejected, SecretUnavailable
from orchestrator.logs import REDACTOR

GIT_USER = "x-access-token"  # GitHub wants it; Azure DevOps ignores the user name
MAX_ERROR = 2000


class SecretSource(Protocol):
    async def get_secret(self, ref: str) -> str: ...


def basic_header(pat: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{GIT_USER}:{pat}".encode()).decode()


def git_env(pat: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a git command that must never prompt and may use only `pat`."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("GIT_CONFIG_") and k not in ("GIT_ASKPASS", "SSH_ASKPASS")
    }
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GCM_INTERACTIVE="never",
        GIT_ALLOW_PROTOCOL="http:https:ssh:git",
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    # No credential helper and no hooks: an agent can write hooks into a shared bare repo.
    config = [("credential.helper", ""), ("core.hooksPath", os.devnull)]
    if pat:
        config.append(("http.extraHeader", basic_header(pat)))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def redact(text: str, pat: str | None) -> str:
    """git's message without the token in any form it could take."""
    if pat:
        b64 = base64.b64encode(f"{GIT_USER}:{pat}".encode()).decode()
        for form in (b64, pat):
            text = text.replace(form, "***")
    return REDACTOR.redact(text)


async def ls_remote(
    git_url: str, branch: str, pat: str | None, timeout: float, git: str = "git"
) -> GitCheckResult:
    """Run `git ls-remote --heads --symref`; a failure is a result, not an exception."""
    ref = f"refs/heads/{branch}"
    try:
        proc = await asyncio.create_subprocess_exec(
            git, "ls-remote", "--heads", "--symref", "--", git_url, ref,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=git_env(pat), start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return GitCheckResult(
            ok=False, ran=False, error=f"git could not run on this host: {exc.strerror}"
        )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return GitCheckResult(ok=False, error=f"git ls-remote gave no answer within {timeout:g} s")
    if proc.returncode != 0:
        message = redact(err.decode(errors="replace").strip(), pat)[:MAX_ERROR]
        return GitCheckResult(ok=False, error=message or f"git exited with {proc.returncode}")
    refs = {line.split("\t", 1)[1] for line in out.decode().splitlines() if "\t" in line}
    return GitCheckResult(ok=True, branch_found=ref in refs)


class GitCheckActivities:
    """Built once per agent with a factory for its API client (used per check, then closed)."""

    def __init__(
        self, api: Callable[[], AbstractAsyncContextManager[SecretSource]], git: str = "git"
    ) -> None:
        self.api = api
        self.git = git

    @activity.defn(name="git.ls_remote")
    async def ls_remote(self, inp: GitCheckInput) -> GitCheckResult:
        pat: str | None = None
        if inp.secret_ref:
            try:
                async with self.api() as api:
                    pat = await api.get_secret(inp.secret_ref)
            except (SecretUnavailable, AgentRejected) as exc:
                return GitCheckResult(
                    ok=False, ran=False, error=f"the token could not be fetched: {exc}"
                )
        result = await ls_remote(inp.git_url, inp.branch, pat, inp.timeout_seconds, self.git)
        activity.logger.info(
            "git ls-remote of %s: %s.", inp.git_url, "ok" if result.ok else "failed"
        )
        return result
