"""Signing in, rotating refresh tokens, devices and the first administrator.

Refresh tokens rotate on every use. Presenting an already-rotated token more than GRACE after
its rotation is theft (RFC 9700 §4.14.2): the whole family is revoked and audited. Within
GRACE it is two tabs racing: the loser is told to retry (its cookie jar already holds the
successor), and no tokens are issued to it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.models import RefreshFamily, RefreshToken
from orchestrator.auth.repository import AuthRepository
from orchestrator.auth.tokens import AccessClaims, AccessTokens
from orchestrator.base import utcnow
from orchestrator.config import ServerSettings
from orchestrator.security.permissions import ADMIN, DEFAULT_ROLE_FOR_NEW_USERS
from orchestrator.users.models import User

log = logging.getLogger(__name__)
GRACE = timedelta(seconds=20)
SETUP_TOKEN = "setup_token_sha256"  # noqa: S105  (a settings key, not a secret)
LOCAL_ISSUER = "local"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SignInRefused(Exception):
    """Sign-in is not allowed; the message is shown to the person, `code` says which rule."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str = ""


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do (admin bypasses every permission check)."""

    user_id: str
    name: str
    email: str | None
    permissions: frozenset[str]
    family_id: str

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.permissions

    def can(self, permission: str) -> bool:
        return self.is_admin or permission in self.permissions


@dataclass(frozen=True)
class Tokens:
    user: User
    family_id: str
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


RefreshOutcome = Literal["ok", "retry", "denied"]


@dataclass(frozen=True)
class Refreshed:
    outcome: RefreshOutcome
    tokens: Tokens | None = None
    reason: str = ""


class AuthService:
    def __init__(self, session: AsyncSession, settings: ServerSettings, access: AccessTokens):
        self.repo = AuthRepository(session)
        self.audit = AuditRepository(session)
        self.settings = settings
        self.access = access

    # -- first administrator -------------------------------------------------------------

    async def issue_setup_token(self) -> str | None:
        """While no admin exists, a fresh one-time setup token (only its hash is kept)."""
        if await self.repo.admin_exists():
            return None
        token = secrets.token_urlsafe(24)
        await self.repo.set_setting(SETUP_TOKEN, sha256(token))
        return token

    async def _may_become_first_admin(self, ident: Identity, setup_token: str | None) -> bool:
        stored = await self.repo.get_setting(SETUP_TOKEN)
        if setup_token and stored and hmac.compare_digest(stored, sha256(setup_token)):
            return True
        email = (ident.email or "").lower()
        return bool(email) and ident.email_verified and email in self.settings.admin_email_set

    # -- sign-in ---------------------------------------------------------------------------

    async def sign_in(
        self, ident: Identity, *, user_agent: str, ip: str | None, setup_token: str | None = None
    ) -> Tokens:
        await self.repo.lock_first_admin()  # two first sign-ins cannot both become admin
        user = await self.repo.user_by_identity(ident.issuer, ident.subject)
        bootstrap = not await self.repo.admin_exists()
        if bootstrap and not await self._may_become_first_admin(ident, setup_token):
            raise SignInRefused(
                "This instance has no administrator yet: sign in with the setup link the "
                "server printed at start, or with an email listed in POLYGENT_ADMIN_EMAILS.",
                "needs_setup",
            )
        if user is None:
            if not bootstrap and not self.settings.auth_allow_new_users:
                raise SignInRefused(
                    "New users are not allowed on this instance; ask an admin.", "no_new_users"
                )
            user = await self.repo.add_user(
                User(issuer=ident.issuer, subject=ident.subject, email=ident.email,
                     display_name=ident.name or ident.email or ident.subject)
            )  # fmt: skip
            role = await self.repo.role_by_name(DEFAULT_ROLE_FOR_NEW_USERS)
            if role is not None and not bootstrap:
                await self.repo.assign_role(user.id, role.id)
        if user.disabled:
            raise SignInRefused("This account is disabled.", "disabled")
        if bootstrap:
            admin = await self.repo.role_by_name("admin")
            assert admin is not None, "the admin role is seeded by migration 0002"
            await self.repo.assign_role(user.id, admin.id)
            await self.repo.set_setting(SETUP_TOKEN, "")
            await self.audit.add("auth.first_admin", actor_type="user", actor_id=user.id, ip=ip)
            log.info("%s became the first administrator.", user.display_name)
        if ident.email:
            user.email = ident.email
        user.last_sign_in_at = utcnow()
        await self.audit.add(
            "auth.sign_in", actor_type="user", actor_id=user.id, ip=ip,
            details={"issuer": ident.issuer, "user_agent": user_agent[:200]},
        )  # fmt: skip
        now = utcnow()
        family = await self.repo.add_family(
            RefreshFamily(
                user_id=user.id, user_agent=user_agent[:300], ip=ip, created_at=now,
                last_used_at=now,
                absolute_expires_at=now + timedelta(days=self.settings.session_max_days),
            )
        )  # fmt: skip
        return await self._issue(user, family, parent_id=None, now=now)

    async def _issue(
        self, user: User, family: RefreshFamily, parent_id: str | None, now: datetime
    ) -> Tokens:
        plain = secrets.token_urlsafe(32)
        expires = min(
            now + timedelta(days=self.settings.refresh_token_days), family.absolute_expires_at
        )
        await self.repo.add_token(
            RefreshToken(family_id=family.id, token_hash=sha256(plain), parent_id=parent_id,
                         issued_at=now, expires_at=expires)
        )  # fmt: skip
        access, access_exp = self.access.issue(user.id, family.id, now)
        return Tokens(user, family.id, access, access_exp, plain, expires)

    # -- refresh ---------------------------------------------------------------------------

    async def refresh(self, plain: str, *, user_agent: str, ip: str | None) -> Refreshed:
        now = utcnow()
        token = await self.repo.token_by_hash(sha256(plain)) if plain else None
        if token is None:
            return Refreshed("denied", reason="Not signed in.")
        family = await self.repo.get_family(token.family_id)
        if family is None or family.revoked_at is not None:
            return Refreshed("denied", reason="This sign-in was ended; sign in again.")
        if family.absolute_expires_at <= now or token.expires_at <= now:
            return Refreshed("denied", reason="The sign-in expired; sign in again.")
        if token.used_at is not None:
            if now - token.used_at <= GRACE:
                return Refreshed("retry", reason="Refreshed by another tab; retry.")
            await self._revoke(family, now, "refresh_token_reuse")
            await self.audit.add(
                "auth.refresh_token_reuse", actor_type="user", actor_id=family.user_id, ip=ip,
                target_type="refresh_family", target_id=family.id,
            )  # fmt: skip
            log.warning("A rotated refresh token was used again; signed out that device.")
            return Refreshed("denied", reason="This sign-in was ended; sign in again.")
        if not await self.repo.mark_used(token.id, now):
            return Refreshed("retry", reason="Refreshed by another tab; retry.")
        user = await self.repo.get_user(family.user_id)
        if user is None or user.disabled:
            return Refreshed("denied", reason="This account is disabled.")
        family.last_used_at = now
        family.user_agent = user_agent[:300] or family.user_agent
        family.ip = ip
        return Refreshed("ok", await self._issue(user, family, parent_id=token.id, now=now))

    # -- devices and sign-out --------------------------------------------------------------

    async def _revoke(self, family: RefreshFamily, now: datetime, reason: str) -> None:
        if family.revoked_at is None:
            family.revoked_at = now
            family.revoke_reason = reason

    async def sign_out(self, family_id: str, *, actor_id: str, ip: str | None) -> bool:
        family = await self.repo.get_family(family_id)
        if family is None or family.revoked_at is not None:
            return False
        await self._revoke(
            family, utcnow(), "signed_out" if actor_id == family.user_id else "revoked"
        )
        await self.audit.add(
            "auth.device_revoked", actor_type="user", actor_id=actor_id, ip=ip,
            target_type="refresh_family", target_id=family_id, details={"user_id": family.user_id},
        )  # fmt: skip
        return True

    async def sign_out_everywhere(self, user_id: str, *, actor_id: str, ip: str | None) -> int:
        n = await self.repo.revoke_families(user_id, utcnow(), "signed_out_everywhere")
        await self.audit.add(
            "auth.signed_out_everywhere", actor_type="user", actor_id=actor_id, ip=ip,
            target_type="user", target_id=user_id, details={"devices": n},
        )  # fmt: skip
        return n

    async def devices(self, user_id: str) -> list[RefreshFamily]:
        return await self.repo.families_of(user_id, utcnow())

    # -- who is calling --------------------------------------------------------------------

    async def principal(self, claims: AccessClaims) -> Principal | None:
        """The caller of a valid access token, unless its sign-in was revoked since."""
        family = await self.repo.get_family(claims.family_id)
        if family is None or family.revoked_at is not None or family.user_id != claims.user_id:
            return None
        user = await self.repo.get_user(claims.user_id)
        if user is None or user.disabled:
            return None
        perms = await self.repo.permissions_of(user.id)
        return Principal(user.id, user.display_name, user.email, frozenset(perms), family.id)
