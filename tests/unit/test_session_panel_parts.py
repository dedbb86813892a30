"""The session panel's pure parts: path checks, status parsing, the hardened git environment."""

from __future__ import annotations

import pytest

from activities.agent.session_git import (
    RISKY_CONFIG,
    panel_env,
    parse_merge_tree,
    parse_status,
)
from orchestrator.contracts.session_panel import Author, clean_file_path, clean_path

pytestmark = pytest.mark.sessions


def test_clean_path_normalizes_and_refuses_what_leaves_the_root() -> None:
    assert clean_path("") == "" and clean_path("./a//b/") == "a/b"
    for bad in ("/etc/passwd", "../x", "a/../../b", ".git", "a/.git/config", "a\nb", "a\ud800"):
        with pytest.raises(ValueError):
            clean_path(bad)
    with pytest.raises(ValueError):
        clean_file_path("./")


def test_parse_status_reads_renames_and_untracked_files() -> None:
    out = "R  new.txt\0old.txt\0 M README.md\0?? dir/n e w.txt\0A  added\0"
    files, truncated = parse_status(out, 10)
    assert not truncated
    assert [(f.path, f.index, f.worktree, f.staged, f.orig_path) for f in files] == [
        ("new.txt", "R", " ", True, "old.txt"),
        ("README.md", " ", "M", False, None),
        ("dir/n e w.txt", "?", "?", False, None),
        ("added", "A", " ", True, None),
    ]
    assert parse_status(out, 2) == (files[:2], True)


def test_merge_tree_output_and_risky_config_keys() -> None:
    tree = "d7e28ccae29bb159c752ae4d11c92d2c110afc40"
    assert parse_merge_tree(f"{tree}\0") == (tree, [])
    assert parse_merge_tree(f"{tree}\0b\0a\0b\0") == (tree, ["a", "b"])
    for key in ("url.http://x/.insteadof", "http.proxy", "include.path", "core.sshcommand",
                "remote.origin.pushurl", "credential.helper"):  # fmt: skip
        assert RISKY_CONFIG.match(key), key
    for key in ("core.bare", "remote.origin.url", "remote.origin.fetch", "branch.main.remote"):
        assert not RISKY_CONFIG.match(key), key


def test_panel_env_disables_hooks_and_keeps_the_token_out_of_argv_style_places() -> None:
    env = panel_env("tok-123", Author(name="Ann <evil>\n", email="a@b"))
    pairs = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert pairs["core.hooksPath"] and pairs["core.fsmonitor"] == "false"
    assert pairs["credential.helper"] == "" and "Authorization: Basic" in pairs["http.extraHeader"]
    assert env["GIT_AUTHOR_NAME"] == "Ann evil" and env["GIT_LITERAL_PATHSPECS"] == "1"
    assert "tok-123" not in "".join(pairs.values())  # base64 in the header, never plain
