"""The agent's HTTP client for the API: registration, heartbeats, secret references and
session events, all authenticated with its host API key."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any
from urllib.parse import quote

import httpx

from orchestrator.contracts.agent import AgentEvent
from orchestrator.hosts.schemas import HeartbeatRequest, RegisterRequest, RegisterResponse
from orchestrator.logs import REDACTOR


class AgentRejected(Exception):
    """The API refused the agent's key (revoked, expired, wrong type): stop, do not retry."""


class SecretUnavailable(LookupError):
    """The secret reference is unknown, expired or already redeemed."""


class HostApiClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": f"polygent-agent/{version('polygent')}",
            },
            timeout=timeout,
        )

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self._http.post(path, json=body)
        if resp.status_code in (401, 403):
            detail = resp.json().get("detail", resp.text) if resp.content else resp.reason_phrase
            raise AgentRejected(f"The API at {self._http.base_url} refused this agent: {detail}")
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    async def register(self, req: RegisterRequest) -> RegisterResponse:
        return RegisterResponse.model_validate(
            await self._post("/internal/hosts/register", req.model_dump())
        )

    async def heartbeat(self, host_id: str, req: HeartbeatRequest) -> None:
        await self._post(f"/internal/hosts/{host_id}/heartbeat", req.model_dump())

    async def get_secret(self, ref: str) -> str:
        """Redeem a secret reference (once); the value never reaches a log line."""
        resp = await self._http.get(f"/internal/secrets/{quote(ref, safe='')}")
        if resp.status_code in (401, 403):
            detail = resp.json().get("detail", resp.text) if resp.content else resp.reason_phrase
            raise AgentRejected(f"The API refused the secret: {detail}")
        if resp.status_code == 404:
            raise SecretUnavailable("the secret reference expired or was already used")
        resp.raise_for_status()
        value: str = resp.json()["value"]
        REDACTOR.add(value)
        return value

    async def post_events(self, session_id: str, events: list[AgentEvent]) -> dict[str, Any]:
        """Post a batch (1..500) of numbered events; safe to repeat after a lost response.

        Answers `{"stored": n, "duplicates": m, "last_cursor": id}`.
        """
        return await self._post(
            f"/internal/sessions/{quote(session_id, safe='')}/events",
            {"events": [e.model_dump(mode="json", exclude_none=True) for e in events]},
        )

    async def _get(self, path: str) -> httpx.Response:
        resp = await self._http.get(path)
        if resp.status_code in (401, 403):
            detail = resp.json().get("detail", resp.text) if resp.content else resp.reason_phrase
            raise AgentRejected(f"The API at {self._http.base_url} refused this agent: {detail}")
        resp.raise_for_status()
        return resp

    async def session_environment(self, session_id: str) -> dict[str, str]:
        """The workspace's variables for a session on this host; secret values are redacted."""
        resp = await self._get(f"/internal/sessions/{quote(session_id, safe='')}/environment")
        body = resp.json()
        values: dict[str, str] = body["variables"]
        for name in body.get("secret", []):
            REDACTOR.add(values.get(name))
        return values

    async def attachment(self, session_id: str, attachment_id: str) -> bytes:
        resp = await self._get(
            f"/internal/sessions/{quote(session_id, safe='')}/attachments/"
            f"{quote(attachment_id, safe='')}"
        )
        return resp.content

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> HostApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
