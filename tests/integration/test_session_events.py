"""The event path from agents to browsers: idempotent batched posts by the session's host,
cursor reads, and a WebSocket that resumes after a reconnect with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.models import Role
from orchestrator.auth.repository import AuthRepository
from orchestrator.contracts.agent import AgentEvent
from orchestrator.db import Database
from orchestrator.hostagent.client import AgentRejected, HostApiClient
from orchestrator.sessions.models import Session
from orchestrator.users.repository import RoleRepository, UserRepository
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.helpers import wait_for
from tests.integration.stack import Stack, running_stack, sign_in, unique_host

pytestmark = pytest.mark.sessions


async def _user(stack: Stack, perms: list[str]) -> tuple[str, str]:
    """A signed-in user holding exactly `perms`: (user id, access token)."""
    name = f"u{uuid.uuid4().hex[:8]}"
    token = await sign_in(stack.state, name)
    async with stack.state.db.session() as s:
        user = await AuthRepository(s).user_by_identity("local", name)
        assert user is not None
        role = await RoleRepository(s).add(Role(name=f"r-{name}"))
        await RoleRepository(s).set_permissions(role.id, perms)
        await UserRepository(s).set_roles(user.id, [role.id])
        return user.id, token


async def _session(stack: Stack, host_id: str, creator: str, members: list[str]) -> str:
    async with stack.state.db.session() as s:
        ws = Workspace(name=f"ev-{uuid.uuid4().hex[:8]}", git_url="https://git.invalid/r.git")
        s.add(ws)
        await s.flush()
        s.add_all(WorkspaceMember(workspace_id=ws.id, user_id=u) for u in members)
        row = Session(workspace_id=ws.id, host_id=host_id, created_by=creator, title="events")
        s.add(row)
        await s.flush()
        return row.id


async def _agent(stack: Stack) -> tuple[str, str]:
    """A registered session agent: (host id, its key)."""
    host, key = unique_host(), await stack.mint("session")
    await stack.start_agent(host, "session", key)

    async def registered() -> dict[str, Any] | None:
        return await stack.worker(host, "session")

    worker = await wait_for(registered, what="the agent to register")
    assert worker["task_queue"]
    return host, key


def _events(turn: int, seqs: range, attempt: int = 1) -> list[AgentEvent]:
    return [
        AgentEvent(kind="text", turn=turn, attempt=attempt, seq=n, text=f"t{turn} #{n}")
        for n in seqs
    ]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_posts_are_idempotent_authorised_and_read_by_cursor(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        (host, key), (_, other_key) = await _agent(stack), await _agent(stack)
        owner, owner_token = await _user(stack, ["sessions.view_own"])
        peer, peer_token = await _user(stack, ["sessions.view_own"])  # a member, not the creator
        watcher, watcher_token = await _user(stack, ["sessions.view_all"])
        _, stranger_token = await _user(stack, ["sessions.view_all"])  # not a member
        nobody, nobody_token = await _user(stack, [])
        sid = await _session(stack, host, owner, [owner, peer, watcher, nobody])

        async with stack.state.bus.subscribe() as published, HostApiClient(stack.url, key) as api:
            first = await api.post_events(sid, _events(1, range(10)))
            assert first["stored"] == 10 and first["duplicates"] == 0
            # A retried batch overlapping the first: only the new events are stored and published.
            again = await api.post_events(sid, _events(1, range(8, 12)))
            assert again == {
                "stored": 2, "duplicates": 2, "last_cursor": again["last_cursor"],
                "budget_stop": None,  # no usage, no budget: nothing to stop
            }  # fmt: skip
            assert again["last_cursor"] > first["last_cursor"]
            replay = await api.post_events(sid, _events(1, range(12)))
            assert replay["stored"] == 0 and replay["duplicates"] == 12
            assert replay["last_cursor"] == again["last_cursor"]
            # The same seq in a later attempt is another event (a retried turn keeps both).
            retry = await api.post_events(sid, _events(1, range(2), attempt=2))
            assert retry["stored"] == 2
            news = [published.get_nowait() for _ in range(published.qsize())]
        batches = [e for e in news if e is not None and e["type"] == "session.events"]
        assert [len(b["events"]) for b in batches] == [10, 2, 2]
        assert all(b["session_id"] == sid for b in batches)
        live_cursors = [e["cursor"] for b in batches for e in b["events"]]
        assert live_cursors == sorted(set(live_cursors))

        # Another host's key, a deploy key, an unknown session: refused.
        async with HostApiClient(stack.url, other_key) as other:
            with pytest.raises(AgentRejected, match="another host"):
                await other.post_events(sid, _events(1, range(20, 21)))
        raw = httpx.AsyncClient(base_url=stack.url, headers=_bearer(key))
        deploy = _bearer(await stack.mint("deploy"))
        async with raw:
            url = f"/internal/sessions/{sid}/events"
            one = {"events": [{"kind": "text", "turn": 2, "attempt": 1, "seq": 0, "text": "x"}]}
            assert (await raw.post(url, json=one, headers=deploy)).status_code == 403
            assert (await raw.post(url, json=one, headers=_bearer("pgk_nope"))).status_code == 401
            missing = await raw.post("/internal/sessions/nosuch/events", json=one)
            assert missing.status_code == 404
            bodies: list[dict[str, Any]] = [
                {"events": []},
                {"events": [{"kind": "text", "seq": n} for n in range(501)]},
                {"events": [{"kind": "shout"}]},
                {"events": [{"kind": "text", "seq": -1}]},
                {"events": [{"kind": "text", "seq": 2**31}]},
                {"events": [{"kind": "text", "text": "nul\x00"}]},
                {**one, "extra": 1},
            ]
            for body in bodies:
                r = await raw.post(url, json=body)
                assert r.status_code == 422, (str(body)[:200], r.text)
            huge = {"events": [{"kind": "text", "attempt": 1, "seq": 99, "text": "x" * 300_000}]}
            assert (await raw.post(url, json=huge)).status_code == 413
            # NaN/inf from a JSON body are stored as null on both databases.
            nan = b'{"events": [{"kind": "usage", "turn": 3, "attempt": 1, "cost_usd": Infinity}]}'
            r = await raw.post(url, content=nan, headers={"Content-Type": "application/json"})
            assert r.status_code == 200 and r.json()["stored"] == 1, r.text

        # Reading by cursor, in pages, in cursor order.
        r = await stack.http.get(f"/api/sessions/{sid}/events", params={"limit": 5})
        assert r.status_code == 200
        page = r.json()
        assert [e["seq"] for e in page["events"]] == [0, 1, 2, 3, 4]
        assert page["events"][0]["data"] == {"text": "t1 #0", "is_error": False}
        assert page["next_cursor"] == page["events"][-1]["cursor"]
        rest = (
            await stack.http.get(
                f"/api/sessions/{sid}/events", params={"after": page["next_cursor"]}
            )
        ).json()
        got = [(e["turn"], e["attempt"], e["seq"]) for e in page["events"] + rest["events"]]
        assert got == [(1, 1, n) for n in range(12)] + [(1, 2, 0), (1, 2, 1), (3, 1, 0)]
        assert rest["events"][-1]["data"] == {"is_error": False, "cost_usd": None}
        cursors = [e["cursor"] for e in page["events"] + rest["events"]]
        assert cursors == sorted(set(cursors)) and cursors[-1] == rest["next_cursor"]
        end = await stack.http.get(
            f"/api/sessions/{sid}/events", params={"after": rest["next_cursor"]}
        )
        assert end.json() == {"events": [], "next_cursor": rest["next_cursor"]}
        too_many = await stack.http.get(f"/api/sessions/{sid}/events", params={"limit": 1001})
        assert too_many.status_code == 422

        # Who may read: membership first (404), then the permission (403).
        for token, status in (
            (owner_token, 200),
            (watcher_token, 200),
            (peer_token, 403),
            (nobody_token, 403),
            (stranger_token, 404),
        ):
            for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/events"):
                r = await stack.http.get(path, headers=_bearer(token))
                assert r.status_code == status, (path, status, r.text)
        row = (await stack.http.get(f"/api/sessions/{sid}", headers=_bearer(owner_token))).json()
        assert row["id"] == sid and row["host_id"] == host and row["created_by"] == owner
        assert (await stack.http.get("/api/sessions/nosuch")).status_code == 404


class Socket:
    """One WebSocket connection; `messages` collects everything it received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def until(self, what: str, **match: Any) -> dict[str, Any]:
        """Receive until a message matching `match` arrives (everything is kept)."""

        async def receive() -> dict[str, Any]:
            while True:
                msg: dict[str, Any] = json.loads(await self.ws.recv())
                self.messages.append(msg)
                if all(msg.get(k) == v for k, v in match.items()):
                    return msg

        return await asyncio.wait_for(receive(), 20)

    def cursors(self, sid: str) -> list[int]:
        return [
            e["cursor"]
            for m in self.messages
            if m["type"] == "session.events" and m["session_id"] == sid
            for e in m["events"]
        ]


@asynccontextmanager
async def _socket(stack: Stack, token: str) -> AsyncIterator[Socket]:
    url = stack.url.replace("http", "ws") + "/ws"
    async with websockets.connect(url, additional_headers=_bearer(token)) as ws:
        sock = Socket(ws)
        await sock.until("hello", type="hello")
        yield sock


async def test_websocket_resumes_without_gaps_or_duplicates_and_shows_presence(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        host, key = await _agent(stack)
        admin_token = stack.http.headers["Authorization"].split()[1]
        owner, owner_token = await _user(stack, ["sessions.view_own"])
        _, stranger_token = await _user(stack, ["sessions.view_all"])
        sid = await _session(stack, host, owner, [owner])
        subscribed, first_closed = asyncio.Event(), asyncio.Event()
        async with HostApiClient(stack.url, key) as api:
            await api.post_events(sid, _events(0, range(7)))  # a backlog before anyone looks

            async def post_batches() -> None:
                """Some batches before the first socket subscribes, some while it reads, some
                while it is gone and while the second one subscribes."""
                for turn in range(1, 21):
                    await api.post_events(sid, _events(turn, range(5)))
                    if turn == 3:
                        await subscribed.wait()
                    if turn == 12:
                        await first_closed.wait()

            poster = asyncio.create_task(post_batches())
            async with _socket(stack, owner_token) as first:
                await first.send(type="subscribe", session_id=sid, after=0)
                await first.until("the backlog", type="subscribed", session_id=sid)
                subscribed.set()
                while len(first.cursors(sid)) < 40:
                    await first.until("more events", type="session.events")
            first_closed.set()
            seen_first = first.cursors(sid)
            async with _socket(stack, owner_token) as second:
                await second.send(type="subscribe", session_id=sid, after=seen_first[-1])
                await second.until("the rest of the backlog", type="subscribed")
                await poster
                stored = await _all_cursors(stack, sid)
                while second.cursors(sid)[-1:] != stored[-1:]:
                    await second.until("the last events", type="session.events")
            assert len(stored) == 7 + 20 * 5
            assert seen_first == sorted(set(seen_first)) and len(seen_first) >= 40
            seen = seen_first + second.cursors(sid)
            assert seen == stored, "a gap, a duplicate or a reordering across the reconnect"

        # Presence: two viewers, then one leaves; refusals come back as errors.
        async with _socket(stack, owner_token) as a:
            await a.send(type="subscribe", session_id=sid, after=stored[-1])
            await a.until("own presence", type="session.presence", session_id=sid)
            async with _socket(stack, admin_token) as b:
                await b.send(type="subscribe", session_id=sid, after=stored[-1])
                both = await _presence(b, 2)
                assert owner in {v["user_id"] for v in both["viewers"]}
                assert both == await _presence(a, 2)
                # Platform-wide events still reach every socket.
                other, _ = await _agent(stack)
                await b.until("host status", type="host.status", host_id=other, online=True)
            alone = await _presence(a, 1)
            assert alone["viewers"][0]["user_id"] == owner
            assert not [m for m in a.messages if m["type"] == "session.events"]
            # The backlog/live race: a live batch repeating cursors already sent loses them.
            late = stored[-1] + 1000
            stack.state.bus.publish(
                {"type": "session.events", "session_id": sid,
                 "events": [{"cursor": c, "turn": 0, "attempt": 0, "seq": 0, "kind": "text",
                             "data": {}} for c in (stored[-2], stored[-1], late)]}
            )  # fmt: skip
            stack.state.bus.publish(
                {"type": "session.events", "session_id": sid,
                 "events": [{"cursor": late, "turn": 0, "attempt": 0, "seq": 0, "kind": "text",
                             "data": {}}]}
            )  # fmt: skip
            stack.state.bus.publish({"type": "test.marker"})  # the bus keeps order
            await a.until("the marker", type="test.marker")
            assert a.cursors(sid) == [late]
        async with _socket(stack, stranger_token) as c:
            await c.send(type="subscribe", session_id=sid, after=0)
            err = await c.until("a refusal", type="error")
            assert err["status"] == 404 and err["session_id"] == sid
            await c.send(type="subscribe", session_id=sid, after=-1)
            assert (await c.until("a refusal", type="error"))["status"] == 422
            # Nothing of the session reaches a socket that was refused.
            async with HostApiClient(stack.url, key) as api:
                await api.post_events(sid, _events(99, range(1)))
            await c.send(type="unsubscribe", session_id="nosuch")
            await c.send(type="subscribe", session_id="nosuch")
            assert (await c.until("a refusal", type="error", session_id="nosuch"))["status"] == 404
            assert not [m for m in c.messages if m["type"].startswith("session.")]


async def _presence(sock: Socket, viewers: int) -> dict[str, Any]:
    """The next presence event naming `viewers` people."""
    while True:
        msg = await sock.until(f"{viewers} viewers", type="session.presence")
        if len(msg["viewers"]) == viewers:
            return msg


async def _all_cursors(stack: Stack, sid: str) -> list[int]:
    r = await stack.http.get(f"/api/sessions/{sid}/events", params={"limit": 1000})
    return [e["cursor"] for e in r.json()["events"]]
