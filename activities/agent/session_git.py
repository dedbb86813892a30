"""git pieces for the session panel: a hardened environment, status parsing, merge testing.

Credentialed commands (fetch, push) run in the host's bare repository, which the agent in a
worktree can reach and reconfigure. So the token goes only into the environment of those
commands, repository hooks are switched off for every panel command (`core.hooksPath`, set
through the environment, outranks the repository's config), and a bare repository whose
config could redirect or proxy the token (`url.*.insteadOf`, `http.*`, an `include`...) is
refused before the token is handed to git.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from activities.agent.worktree_git import GitError, command_env, run_git
from orchestrator.contracts.session_panel import Author, GitFileStatus

PANEL_CONFIG = (("core.hooksPath", os.devnull), ("core.fsmonitor", "false"))
RISKY_CONFIG = re.compile(
    r"^(url\.|http\.|credential\.|include\.|includeif\.|protocol\.|ssh\.|"
    r"core\.(sshcommand|gitproxy|askpass)$|"
    r"remote\.[^.]+\.(pushurl|proxy|proxyauthmethod|uploadpack|receivepack|vcs)$)"
)
_CRUD = re.compile(r"[\x00-\x1f\x7f<>]")


def panel_env(pat: str | None = None, author: Author | None = None) -> dict[str, str]:
    """command_env plus: no hooks, no fsmonitor, literal pathspecs, and the commit author."""
    env = command_env(pat)
    count = int(env["GIT_CONFIG_COUNT"])
    for key, value in PANEL_CONFIG:
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    env["GIT_LITERAL_PATHSPECS"] = "1"
    if author is not None:
        env["GIT_AUTHOR_NAME"] = _CRUD.sub("", author.name).strip() or "Polygent user"
        env["GIT_AUTHOR_EMAIL"] = _CRUD.sub("", author.email).strip() or "polygent@localhost"
    return env


async def risky_config(git: str, bare: Path) -> list[str]:
    """The bare repository's own config keys that could leak or redirect a token."""
    out = await run_git(
        git, ["config", "--local", "--list", "--name-only", "-z"], cwd=bare, env=panel_env()
    )  # fmt: skip
    return sorted({k for k in out.split("\0") if k and RISKY_CONFIG.match(k.lower())})


def parse_status(porcelain: str, limit: int) -> tuple[list[GitFileStatus], bool]:
    """`git status --porcelain=v1 -z` entries (a rename carries its old path next); at most
    `limit` of them, and whether more were left out."""
    fields = porcelain.split("\0")
    files: list[GitFileStatus] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        x, y, path = entry[0], entry[1], entry[3:]
        orig = None
        if x in "RC" or y in "RC":
            orig = fields[i] if i < len(fields) else None
            i += 1
        if len(files) >= limit:
            return files, True
        files.append(
            GitFileStatus(
                path=path, index=x, worktree=y, staged=x not in " ?!", orig_path=orig or None
            )
        )
    return files, False


def parse_merge_tree(out: str) -> tuple[str, list[str]]:
    """`git merge-tree --write-tree --name-only --no-messages -z`: the tree and the
    conflicted files (none when the merge is clean)."""
    fields = [f for f in out.split("\0") if f]
    if not fields or not re.fullmatch(r"[0-9a-f]{40,64}", fields[0].strip()):
        raise GitError("git merge-tree gave no tree")
    return fields[0].strip(), sorted(set(fields[1:]))


def rejected(exc: GitError) -> bool:
    """A push the remote refused because it is not a fast-forward (the branch moved on)."""
    text = str(exc)
    return "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text
