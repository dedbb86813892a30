"""Shared helpers of the ticket tests: API calls and waits on a ticket's stage."""

from __future__ import annotations

import re
from typing import Any

import httpx

from orchestrator.auth.repository import AuthRepository
from orchestrator.base import new_id
from orchestrator.contracts.sessions import DONE_MARKER
from orchestrator.users.repository import UserRepository
from orchestrator.workspaces.models import Workspace
from tests.fakes.anthropic import FakeAnthropic, Step, finish, write_file
from tests.helpers import wait_for
from tests.integration.stack import Stack, sign_in


async def create(stack: Stack, ws_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "Add hello.txt")
    r = await stack.http.post(f"/api/workspaces/{ws_id}/tickets", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def ticket(stack: Stack, tid: str) -> dict[str, Any]:
    r = await stack.http.get(f"/api/tickets/{tid}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def wait_stage(stack: Stack, tid: str, *stages: str, timeout: float = 120) -> dict[str, Any]:
    """Wait until the ticket is in one of `stages` (failing early on an unexpected end)."""

    async def check() -> dict[str, Any] | None:
        t = await ticket(stack, tid)
        ended = ("completed", "failed", "canceled", "merge_conflicts")
        if t["stage"] in ended and t["stage"] not in stages:
            raise AssertionError(f"ticket ended {t['stage']}: {t['failure']}")
        return t if t["stage"] in stages else None

    return await wait_for(check, timeout=timeout, interval=0.2, what=f"ticket {tid} in {stages}")


async def act(stack: Stack, tid: str, action: str, **body: Any) -> dict[str, Any]:
    r = await stack.http.post(f"/api/tickets/{tid}/{action}", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def history(stack: Stack, tid: str) -> dict[str, Any]:
    r = await stack.http.get(f"/api/tickets/{tid}/history")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def stages_of(hist: dict[str, Any]) -> list[str]:
    return [t["to_stage"] for t in hist["transitions"]]


async def person(
    stack: Stack, name: str, roles: list[str], ws_id: str | None = None
) -> tuple[str, httpx.AsyncClient]:
    """A user holding exactly `roles` (a member of `ws_id` when given) and a client for them."""
    token = await sign_in(stack.state, name)
    client = httpx.AsyncClient(
        base_url=stack.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )
    uid = str((await client.get("/api/me")).json()["id"])
    async with stack.state.db.session() as s:
        ids = []
        for role in roles:
            found = await AuthRepository(s).role_by_name(role)
            assert found is not None
            ids.append(found.id)
        await UserRepository(s).set_roles(uid, ids)
    if ws_id is not None:
        r = await stack.http.put(f"/api/workspaces/{ws_id}/members/{uid}")
        assert r.status_code == 204, r.text
    return uid, client


async def bare_workspace(stack: Stack, name: str) -> str:
    """A workspace row without a reachable remote (for tickets that never run)."""
    async with stack.state.db.session() as s:
        ws = Workspace(id=new_id(), name=name, git_url="https://example.invalid/r.git")
        s.add(ws)
        await s.commit()
        return ws.id


def _texts(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [b.get("text", "") for b in content or [] if b.get("type") == "text"]


KEY = re.compile(r"\b([A-Z]{2,6}-\d+):")
PROMPT = re.compile(r"\b[A-Z]{2,6}-\d+: ")


def _has_tool_result(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def ticket_agent(fake: FakeAnthropic) -> None:
    """The fake model as an agent that works on tickets, whatever runs at once: asked about
    PT-1 it writes PT-1.txt (`same.txt` for a title with [same]; the feedback's words after a
    rejection), then says it is done (Auto mode's promise)."""

    def choose(body: dict[str, Any]) -> Step:
        messages = body["messages"]
        asked = [i for i, m in enumerate(messages)
                 if m["role"] == "user" and PROMPT.search("\n".join(_texts(m)))]  # fmt: skip
        last = asked[-1] if asked else 0
        if any(_has_tool_result(m) for m in messages[last + 1 :]):
            return finish("Written.\n" + DONE_MARKER)
        text = "\n".join(_texts(messages[last]))
        everything = "\n".join(t for m in messages for t in _texts(m))
        key = KEY.search(everything)
        name = key.group(1) if key else "ticket"
        if "Address this feedback" in text:
            feedback = text.split("Address this feedback:", 1)[1].strip().splitlines()[0]
            return write_file(f"{name}.txt", f"{name} {feedback}\n")
        if "[same]" in text:
            return write_file("same.txt", f"{name}\n")
        return write_file(f"{name}.txt", f"{name}\n")

    fake.choose = choose  # type: ignore[method-assign]
