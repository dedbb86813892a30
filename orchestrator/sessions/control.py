"""What SessionWorkflow asks of the database, through its control activities.

Each method is one unit of work the activity commits. `emit` stores a workflow-originated
transcript event once (attempt 0, numbered by the workflow), so a retried activity never
shows a line twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.base import utcnow
from orchestrator.contracts.agent import Usage
from orchestrator.contracts.sessions import (
    ChooseHostInput,
    EmitInput,
    HostChoice,
    StatusUpdate,
    TurnContext,
    TurnRecord,
)
from orchestrator.contracts.worktrees import PrepareWorktreeInput
from orchestrator.hosts.repository import HostRepository
from orchestrator.logs import REDACTOR
from orchestrator.notifications.service import NotificationService
from orchestrator.pricing import price_for
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.events import StoredEvent, priced
from orchestrator.sessions.repository import SessionRepository
from orchestrator.settings.budget_guard import BudgetGuard
from orchestrator.settings.providers import PROVIDERS
from orchestrator.settings.service import SettingsService
from orchestrator.tickets.budget import ticket_limit
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.sealed import git_pat_aad

FINISHED = ("done", "canceled")


class SessionGone(LookupError):
    """The session row is gone (deleted with its workspace): the workflow should end."""


def needs_cli(provider: str) -> bool:
    """False for the built-in agent, which runs inside the session agent itself."""
    info = PROVIDERS.get(provider)
    return info is None or info.cli is not None


def prompt_for(ws: Workspace, mode: str) -> str:
    """The workspace's system prompt for the mode (Bot sessions use the Chat prompt)."""
    return ws.prompt_develop if mode == "develop" else ws.prompt_chat


class SessionControl:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.db = session
        self.repo = SessionRepository(session)
        self.hosts = HostRepository(session)
        self.workspaces = WorkspaceRepository(session)
        self.box = box

    async def choose_host(self, inp: ChooseHostInput) -> HostChoice:
        """The online session host with the most free room that may serve the workspace and
        has the provider, or why none fits. The choice is written to the session row in the
        same transaction, under a lock on the host row, so capacity is never overshot."""
        row = await self.repo.get(inp.session_id)
        if row is None:
            raise SessionGone(inp.session_id)
        if row.host_id is not None:
            return HostChoice(host_id=row.host_id)
        workers = {w.host_id: w for w in await self.hosts.list_workers() if w.kind == "session"}
        hosts = {h.id: h for h in await self.hosts.list_hosts()}
        reasons: list[str] = []
        candidates: list[tuple[int, str]] = []
        busy = await self.repo.active_per_host()
        for host_id, worker in sorted(workers.items()):
            host = hosts.get(host_id)
            if host is None:
                continue
            if not worker.online:
                reasons.append(f"{host_id} is offline")
            elif host.workspace_allowlist and inp.workspace_id not in host.workspace_allowlist:
                reasons.append(f"{host_id} does not serve this workspace")
            elif needs_cli(inp.provider) and not (
                (worker.info or {}).get("clis", {}).get(inp.provider)
            ):
                reasons.append(f"{host_id} does not have {inp.provider} installed")
            elif busy.get(host_id, 0) >= host.max_concurrent_sessions:
                reasons.append(f"{host_id} is full ({host.max_concurrent_sessions} sessions)")
            else:
                candidates.append((host.max_concurrent_sessions - busy.get(host_id, 0), host_id))
        for _, host_id in sorted(candidates, key=lambda c: (-c[0], c[1])):
            host = await self.hosts.lock_host(host_id)
            if host is None:
                continue
            active = (await self.repo.active_per_host()).get(host_id, 0)
            if active < host.max_concurrent_sessions:
                row.host_id = host_id
                return HostChoice(host_id=host_id)
        why = "; ".join(reasons) or "no session host has registered"
        return HostChoice(reason=f"Waiting for a session host: {why}.")

    async def worktree_input(self, session_id: str) -> PrepareWorktreeInput:
        """The worktree to prepare, with a fresh single-use reference to the workspace token."""
        row = await self.repo.get(session_id)
        if row is None:
            raise SessionGone(session_id)
        ws = await self.workspaces.get(row.workspace_id)
        if ws is None:
            raise SessionGone(session_id)
        ref = None
        if ws.git_pat:
            pat = self.box.decrypt(ws.git_pat, git_pat_aad(ws))
            REDACTOR.add(pat)
            ref = await SecretRefService(self.db, self.box).mint(
                "git", pat, workspace_id=ws.id, ttl=timedelta(minutes=5)
            )
        return PrepareWorktreeInput(
            workspace_id=ws.id, git_url=ws.git_url,
            base_branch=row.base_branch or ws.default_branch,
            new_branch=row.branch or f"polygent/{row.id[:8]}", worktree_id=row.id, secret_ref=ref,
        )  # fmt: skip

    async def emit(self, inp: EmitInput) -> list[StoredEvent]:
        """Store the event unless it is stored already; the newly stored rows."""
        row = await self.repo.lock(inp.session_id)
        if row is None:
            return []
        values: dict[str, Any] = {
            "session_id": inp.session_id, "turn": inp.turn, "attempt": 0, "seq": inp.seq,
            "kind": inp.kind, "data": inp.data, "created_at": utcnow(),
        }  # fmt: skip
        ids = await self.repo.insert_events([values])
        cursor = ids.get((inp.turn, 0, inp.seq))
        if cursor is None:
            return []
        if inp.kind == "system" and inp.data.get("subtype") == "budget" and row.created_by:
            await NotificationService(self.db).notify(
                [row.created_by], "session.budget", f"Session stopped: {row.title}"[:300],
                str(inp.data.get("text", "")), f"/sessions/{row.id}", "Open session",
            )  # fmt: skip
        return [
            StoredEvent(cursor=cursor, turn=inp.turn, attempt=0, seq=inp.seq, kind=inp.kind,
                        data=inp.data)
        ]  # fmt: skip

    async def update(self, inp: StatusUpdate) -> None:
        row = await self.repo.get(inp.session_id)
        if row is None:
            return
        row.status = inp.status
        row.host_id = inp.host_id or row.host_id
        row.turns = inp.turns
        row.dev_mode = inp.dev_mode
        row.auto_turn_limit = inp.auto_turn_limit
        row.toggles = list(inp.toggles)
        if inp.status in FINISHED and row.ended_at is None:
            row.ended_at = utcnow()

    async def turn_context(self, session_id: str) -> TurnContext:
        row = await self.repo.get(session_id)
        if row is None:
            raise SessionGone(session_id)
        ws = await self.workspaces.get(row.workspace_id)
        settings = SettingsService(self.db)
        ticket = await ticket_limit(self.db, row)
        blocked, remaining = await BudgetGuard(self.db).check(row.workspace_id, ticket)
        info = PROVIDERS.get(row.provider)
        model = row.model or (info.price_model if info else None)
        return TurnContext(
            system_prompt=prompt_for(ws, row.mode) if ws else "", blocked=blocked,
            remaining_usd=remaining, price=price_for(model, await settings.prices()),
        )  # fmt: skip

    async def record_turn(self, inp: TurnRecord) -> None:
        """Add the turn to the session's totals and write its `turn` row in the cost audit."""
        row = await self.repo.get(inp.session_id)
        if row is None:
            return
        usage = Usage(
            input=inp.input_tokens, output=inp.output_tokens, cache_read=inp.cache_read_tokens,
            cache_write=inp.cache_write_tokens,
        )  # fmt: skip
        cost = inp.cost_usd
        if cost is None:  # the CLI reports tokens only: price them
            cost = await priced(self.db, row, usage, inp.model)
        inp = inp.model_copy(update={"cost_usd": cost})
        added = await self.repo.add_cost(
            session_id=row.id, workspace_id=row.workspace_id, turn=inp.turn,
            message_id=f"turn-{inp.turn}", kind="turn", provider=row.provider, model=row.model,
            input_tokens=inp.input_tokens, output_tokens=inp.output_tokens,
            cache_read_tokens=inp.cache_read_tokens, cache_write_tokens=inp.cache_write_tokens,
            cost_usd=cost,
        )  # fmt: skip
        if added:  # a retried activity must not count the turn twice
            row.input_tokens += inp.input_tokens
            row.output_tokens += inp.output_tokens
            row.cache_read_tokens += inp.cache_read_tokens
            row.cache_write_tokens += inp.cache_write_tokens
            row.cost_usd += inp.cost_usd or 0.0
            await BudgetGuard(self.db).announce(row.workspace_id)
