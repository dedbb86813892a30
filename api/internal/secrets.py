"""Secret references redeemed by session hosts (`GET /internal/secrets/{ref_id}`).

Workflows carry only reference ids; the host that runs the activity trades the id for the
value here, once, with its host API key. Only a session key whose host has registered and
is online may redeem; the reference is deleted (and committed) before the value is sent.
Serve the API over HTTPS wherever hosts reach it across a network.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel

from api.deps import DbSession, HostKey, State
from api.problems import errors
from orchestrator.audit.repository import AuditRepository
from orchestrator.hosts.repository import HostRepository
from orchestrator.secrets.service import SecretGone, SecretRefService
from orchestrator.security.crypto import SecretDecryptError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/internal/secrets", tags=["internal"])


class SecretValue(BaseModel):
    value: str


@router.get(
    "/{ref_id}",
    response_model=SecretValue,
    responses=errors(401, 403, 404),
    response_description="The secret's value; the reference no longer exists afterwards.",
)
async def redeem_secret(
    ref_id: str, key: HostKey, state: State, session: DbSession, response: Response
) -> SecretValue:
    """Trade a secret reference for its value, once (404 when unknown, used or expired)."""
    if key.host_type != "session":
        raise HTTPException(403, "Only session hosts may fetch secrets.")
    workers = await HostRepository(session).list_workers()
    worker = next((w for w in workers if w.api_key_id == key.id and w.kind == "session"), None)
    if worker is None or not worker.online:
        raise HTTPException(403, "Register this host (and keep it online) before fetching secrets.")
    try:
        redeemed = await SecretRefService(session, state.secrets).redeem(ref_id)
    except (SecretGone, SecretDecryptError) as exc:
        await session.commit()  # an expired or tampered reference is gone either way
        if isinstance(exc, SecretDecryptError):
            log.warning("Secret reference %s did not decrypt: %s.", ref_id, exc)
        raise HTTPException(404, "No such secret reference (expired or already used).") from None
    await AuditRepository(session).add(
        "secret_ref.redeemed", actor_type="host", actor_id=worker.host_id,
        target_type="secret_ref", target_id=ref_id,
        details={"purpose": redeemed.purpose, "workspace_id": redeemed.workspace_id},
    )  # fmt: skip
    await session.commit()
    response.headers["Cache-Control"] = "no-store"
    return SecretValue(value=redeemed.value)
