"""Field checks for workspace input: git URLs, branch names, variable names, directories.

Each returns the value or raises ValueError with a sentence naming what is wrong; pydantic
turns that into a 422 naming the field.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
GIT_SCHEMES = ("https", "http", "ssh", "git")
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!/)[^\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def git_url(value: str) -> str:
    """https://, http://, ssh://, git:// or scp-like user@host:path; no credentials inside."""
    value = value.strip()
    if not value or _CONTROL.search(value) or " " in value:
        raise ValueError("must be a git URL without spaces")
    if _SCP.match(value) and "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in GIT_SCHEMES:
        raise ValueError(
            "must start with https://, http://, ssh:// or git:// (or be user@host:path)"
        )
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.password is not None or (parts.username and parts.scheme.lower() != "ssh"):
        raise ValueError("must not contain credentials; put the token in git_pat instead")
    return value


def branch(value: str) -> str:
    """A branch name `git check-ref-format --branch` accepts."""
    problem = branch_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def branch_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if name.startswith("-"):
        return "must not start with '-'"
    if name == "HEAD":
        return "cannot be 'HEAD'"
    if _REF_FORBIDDEN.search(name):
        return "must not contain spaces, control characters or any of ~ ^ : ? * [ \\"
    if "@{" in name or ".." in name or "//" in name:
        return "must not contain '@{', '..' or '//'"
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        return "must not start or end with '/' or end with '.'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "no part may start with '.' or end with '.lock'"
    return None


def working_directory(value: str) -> str:
    """A directory relative to the worktree that stays inside it ('' is the root)."""
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    norm = value.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise ValueError("must be relative to the worktree")
    if ".." in norm.split("/"):
        raise ValueError("must stay inside the worktree (no '..')")
    return value


def no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value
