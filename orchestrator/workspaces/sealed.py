"""Associated data for every encrypted workspace column, in one place.

Each value is bound to its row *and* to the rows that own it, so moving a ciphertext to
another row, or re-pointing a row at another workspace or user, makes it undecryptable.
"""

from __future__ import annotations

from orchestrator.security.crypto import aad
from orchestrator.workspaces.models import PersonalPat, Workspace, WorkspaceVariable


def git_pat_aad(ws: Workspace) -> str:
    return aad("workspaces", "git_pat", ws.id)


def variable_aad(var: WorkspaceVariable) -> str:
    return aad("workspace_variables", "value", f"{var.id}:{var.workspace_id}:{var.name}")


def personal_pat_aad(pat: PersonalPat) -> str:
    return aad("personal_pats", "value", f"{pat.id}:{pat.user_id}:{pat.workspace_id}")
