"""Re-encrypt every secret column under the primary key (`polygent secrets rotate`).

After adding a new master key as primary (keeping the old one listed), this sweep rewrites
each value still under an old key; when it reports nothing left, the old key can go.
Running it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.secrets.repository import SecretRefRepository
from orchestrator.secrets.service import ref_aad
from orchestrator.security.crypto import SecretBox
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.sealed import git_pat_aad, personal_pat_aad, variable_aad


@dataclass(frozen=True)
class Swept:
    column: str
    rotated: int
    total: int


def _sweep(
    box: SecretBox, column: str, rows: Sequence[Any], attr: str, bind: Callable[[Any], str]
) -> Swept:
    rotated = 0
    for row in rows:
        fresh = box.rotate(getattr(row, attr), bind(row))
        if fresh is not None:
            setattr(row, attr, fresh)
            rotated += 1
    return Swept(column, rotated, len(rows))


async def rotate_secrets(session: AsyncSession, box: SecretBox) -> list[Swept]:
    """Rewrite values under old keys; raises SecretDecryptError (nothing saved) if one does
    not decrypt with any listed key."""
    ws = WorkspaceRepository(session)
    out = [
        _sweep(box, "workspaces.git_pat", await ws.with_git_pat(), "git_pat", git_pat_aad),
        _sweep(box, "workspace_variables.value", await ws.secret_variables(), "value",
               variable_aad),
        _sweep(box, "personal_pats.value", await ws.all_personal_pats(), "value",
               personal_pat_aad),
        _sweep(box, "secret_refs.value", await SecretRefRepository(session).all(), "value",
               ref_aad),
    ]  # fmt: skip
    await session.flush()
    return out
