"""Secrets at rest: values bound to their rows, key rotation (service and CLI), and the
input rules checked against git itself."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.auth.service import Principal
from orchestrator.db import Database
from orchestrator.secrets.models import SecretRef
from orchestrator.secrets.rotation import rotate_secrets
from orchestrator.secrets.service import SecretRefService, ref_aad
from orchestrator.security.crypto import SecretBox, SecretDecryptError
from orchestrator.security.keys import Keyring, b64e
from orchestrator.users.models import User
from orchestrator.workspaces import envfile
from orchestrator.workspaces.errors import Invalid
from orchestrator.workspaces.models import PersonalPat, Workspace, WorkspaceVariable
from orchestrator.workspaces.pats import PersonalPatService
from orchestrator.workspaces.schemas import VariableImport, WorkspaceCreate
from orchestrator.workspaces.sealed import git_pat_aad, personal_pat_aad, variable_aad
from orchestrator.workspaces.service import WorkspaceService
from orchestrator.workspaces.validation import branch_problem
from orchestrator.workspaces.variables import VariableService
from tests.helpers import TEST_MASTER, VENV_BIN

pytestmark = pytest.mark.identity
BOX = SecretBox(TEST_MASTER)
NEW_MASTER = Keyring.parse(f"new2:{b64e(bytes(range(100, 132)))},{TEST_MASTER.serialize()}")


async def populate(db: Database) -> dict[str, str]:
    """Two users, two workspaces with PATs, secret variables, personal PATs and a ref."""
    async with db.session() as s:
        users = [User(issuer="t", subject=n, email=None, display_name=n) for n in ("u1", "u2")]
        s.add_all(users)
        await s.flush()
        ids: dict[str, str] = {"u1": users[0].id, "u2": users[1].id}
        for n, user in enumerate(users, 1):
            p = Principal(user.id, user.display_name, None, frozenset({"admin"}), "f")
            svc = WorkspaceService(s, BOX, p)
            ws = await svc.create(
                WorkspaceCreate(
                    name=f"ws{n}", git_url="https://e.test/r.git", git_pat=f"pat-of-{n}"
                )
            )
            ids[f"ws{n}"] = ws.id
            await VariableService(svc).create(ws, "TOKEN", f"secret-{n}", True)
            await VariableService(svc).create(ws, "PLAIN", "visible", False)
            await PersonalPatService(svc).set(ws.id, f"ado-pat-{n}")
        ids["ref"] = await SecretRefService(s, BOX).mint(
            "test", "ref-value", workspace_id=ids["ws1"]
        )
    return ids


async def test_a_value_copied_into_another_row_does_not_decrypt(db: Database) -> None:
    ids = await populate(db)
    async with db.session() as s:
        ws1, ws2 = await s.get(Workspace, ids["ws1"]), await s.get(Workspace, ids["ws2"])
        assert ws1 is not None and ws2 is not None and ws1.git_pat and ws2.git_pat
        assert BOX.decrypt(ws2.git_pat, git_pat_aad(ws2)) == "pat-of-2"
        ws2.git_pat = ws1.git_pat  # an attacker with write access swaps ciphertexts
        with pytest.raises(SecretDecryptError):
            BOX.decrypt(ws2.git_pat, git_pat_aad(ws2))
        p = Principal(ids["u2"], "u2", None, frozenset({"admin"}), "f")
        with pytest.raises(Invalid, match="cannot be decrypted") as refused:
            WorkspaceService(s, BOX, p).git_pat(ws2)  # the git check asks for it
        assert refused.value.field == "git_pat"
        # Another column of the same row does not take it either.
        token = (
            await s.scalars(select(WorkspaceVariable).where(
                WorkspaceVariable.workspace_id == ws1.id, WorkspaceVariable.name == "TOKEN"))
        ).one()  # fmt: skip
        with pytest.raises(SecretDecryptError):
            BOX.decrypt(ws1.git_pat, variable_aad(token))
        # A secret variable moved to another workspace (same row id) no longer decrypts.
        assert BOX.decrypt(token.value, variable_aad(token)) == "secret-1"
        token.workspace_id = ws2.id
        with pytest.raises(SecretDecryptError):
            BOX.decrypt(token.value, variable_aad(token))
        token.workspace_id = ws1.id  # (ws2 has its own TOKEN: the row cannot stay moved)
        # A personal PAT re-pointed at another user no longer decrypts.
        pat = (await s.scalars(select(PersonalPat).where(PersonalPat.user_id == ids["u1"]))).one()
        assert BOX.decrypt(pat.value, personal_pat_aad(pat)) == "ado-pat-1"
        pat.user_id = ids["u2"]
        with pytest.raises(SecretDecryptError):
            BOX.decrypt(pat.value, personal_pat_aad(pat))
        await s.rollback()
    # A secret reference's value pasted into another reference is refused on redemption.
    async with db.session() as s:
        other = await SecretRefService(s, BOX).mint("test", "other-value")
        rows = {r.id: r for r in (await s.scalars(select(SecretRef))).all()}
        rows[other].value = rows[ids["ref"]].value
        await s.flush()
        with pytest.raises(SecretDecryptError):
            await SecretRefService(s, BOX).redeem(other)
        assert (await SecretRefService(s, BOX).redeem(ids["ref"])).value == "ref-value"


async def _key_ids(db: Database) -> set[str]:
    async with db.session() as s:
        values = [w.git_pat for w in await s.scalars(select(Workspace))]
        values += [v.value for v in await s.scalars(select(WorkspaceVariable)) if v.secret]
        values += [p.value for p in await s.scalars(select(PersonalPat))]
        values += [r.value for r in await s.scalars(select(SecretRef))]
    return {BOX.key_id(v) for v in values if v}


async def _all_decrypt(db: Database, box: SecretBox) -> list[str]:
    async with db.session() as s:
        out = [
            box.decrypt(w.git_pat, git_pat_aad(w))
            for w in await s.scalars(select(Workspace))
            if w.git_pat
        ]
        out += [
            box.decrypt(v.value, variable_aad(v))
            for v in await s.scalars(select(WorkspaceVariable))
            if v.secret
        ]
        out += [
            box.decrypt(p.value, personal_pat_aad(p)) for p in await s.scalars(select(PersonalPat))
        ]
        out += [box.decrypt(r.value, ref_aad(r)) for r in await s.scalars(select(SecretRef))]
    return sorted(out)


EXPECTED = sorted(["pat-of-1", "pat-of-2", "secret-1", "secret-2", "ado-pat-1", "ado-pat-2",
                   "ref-value"])  # fmt: skip


async def test_rotation_re_encrypts_under_the_new_primary(db: Database) -> None:
    await populate(db)
    assert await _key_ids(db) == {"test1"}
    new_box = SecretBox(NEW_MASTER)
    async with db.session() as s:
        swept = await rotate_secrets(s, new_box)
    assert [(c.column, c.rotated, c.total) for c in swept] == [
        ("workspaces.git_pat", 2, 2), ("workspace_variables.value", 2, 2),
        ("personal_pats.value", 2, 2), ("secret_refs.value", 1, 1),
    ]  # fmt: skip
    assert await _key_ids(db) == {"new2"}
    assert await _all_decrypt(db, new_box) == EXPECTED
    only_new = SecretBox(Keyring(keys={"new2": NEW_MASTER.keys["new2"]}, primary="new2"))
    assert await _all_decrypt(db, only_new) == EXPECTED  # the old key can be retired now
    with pytest.raises(SecretDecryptError, match="unknown key"):
        await _all_decrypt(db, BOX)
    async with db.session() as s:
        again = await rotate_secrets(s, new_box)
    assert [c.rotated for c in again] == [0, 0, 0, 0]  # idempotent


async def test_rotate_command(db: Database, db_url: str, tmp_path: Path) -> None:
    await populate(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYGENT_")}
    env.update(
        POLYGENT_DATABASE_URL=db_url,
        POLYGENT_ENCRYPTION_KEY=NEW_MASTER.serialize(),
        POLYGENT_DATA_DIR=str(tmp_path / "data"),
    )

    async def rotate() -> str:
        proc = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "polygent"), "secrets", "rotate", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        return out.decode()

    first = await rotate()
    assert "workspaces.git_pat: 2 of 2 re-encrypted under key new2" in first
    assert "secret_refs.value: 1 of 1 re-encrypted" in first
    assert await _key_ids(db) == {"new2"}
    assert await _all_decrypt(db, SecretBox(NEW_MASTER)) == EXPECTED
    second = await rotate()
    assert "personal_pats.value: 0 of 2 re-encrypted" in second
    # Without the old key listed, an unrotated value is reported, not half-rotated.
    await populate_more(db)
    env["POLYGENT_ENCRYPTION_KEY"] = f"new2:{b64e(NEW_MASTER.keys['new2'])}"
    proc = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "polygent"), "secrets", "rotate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 1 and "nothing was changed" in out.decode()


async def populate_more(db: Database) -> None:
    """One more value under the old key (test1)."""
    async with db.session() as s:
        ws = (await s.scalars(select(Workspace).where(Workspace.name == "ws1"))).one()
        ws.git_pat = BOX.encrypt("pat-of-1b", git_pat_aad(ws))


def test_branch_rules_match_git() -> None:
    names = [
        "main", "dev", "feature/x", "release-1.2", "a/b/c", "é", "x@y", "-x", "HEAD", "@",
        "a..b", "a//b", "/a", "a/", "a.", ".a", "a/.b", "a.lock", "a/b.lock", "a b", "a~b",
        "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "a@{b", "a\tb", "ok.lock.x", "x/HEAD",
    ]  # fmt: skip
    for name in names:
        git = subprocess.run(
            ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
        )
        assert (branch_problem(name) is None) == (git.returncode == 0), name


def test_env_files_round_trip() -> None:
    values = {
        "PLAIN": "abc", "EMPTY": "", "SPACES": "two words", "HASH": "a #b",
        "QUOTES": "say \"hi\" 'x'",
        "NEWLINES": "l1\nl2\r\n", "TAB": "a\tb", "BACKSLASH": "C:\\path\\n", "DOLLAR": "$HOME ${X}",
        "UNICODE": "ünï €", "EQUALS": "a=b=c", "LEADING": "  padded  ",
    }  # fmt: skip
    text = envfile.render_env([*values.items(), ("SECRET", None)])
    assert "SECRET" in text and text.count("SECRET=") == 1
    assert {e.name: e.value for e in envfile.parse_env(text)} == values
    parsed = envfile.parse_json(envfile.render_json([*values.items(), ("SECRET", None)]))
    assert {e.name: e.value for e in parsed} == {**values, "SECRET": None}
    assert VariableImport(format="env", content=text).content == text
