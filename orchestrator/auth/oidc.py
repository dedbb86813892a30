"""Sign-in through one OpenID Connect provider (Google, Microsoft or any issuer) with authlib.

authlib does the protocol: state, nonce and PKCE (S256) kept in the short-lived `oidc_tx`
session, the code exchange, and the id_token signature, audience, expiry and nonce checks.
This module only decides which provider to talk to, which `iss` values to trust, and how a
validated id_token becomes an Identity keyed by issuer + subject (never by email).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import httpx

with warnings.catch_warnings():
    # authlib 1.9 warns at import that its httpx integration will become "httpx2"; it works
    # as is, and the warning would otherwise greet every `polygent` command on stderr.
    warnings.simplefilter("ignore")
    from authlib.integrations.starlette_client import OAuth

from orchestrator.auth.service import Identity

try:  # authlib talks to the provider through httpx2 when it is installed (the mcp SDK brings it)
    import httpx2

    HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - depends on what else is installed
    HTTP_ERRORS = (httpx.HTTPError,)
from orchestrator.config import ServerSettings

GOOGLE_METADATA = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_ISSUER = "https://accounts.google.com"
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
# Microsoft tenant values that admit users of any tenant: the discovery document's issuer is
# then the template https://login.microsoftonline.com/{tenantid}/v2.0, which never matches.
MICROSOFT_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
BASE_SCOPES = ("openid", "email", "profile")

# authlib's client for one provider (untyped library).
OAuthClient = Any


class UnusableIdentity(Exception):
    """The id_token validated but lacks what we key users on; the message is for people."""


def metadata_url(settings: ServerSettings) -> str:
    provider = settings.auth_provider
    if provider == "google":
        return GOOGLE_METADATA
    if provider == "microsoft":
        tenant = settings.auth_tenant_id.strip() or "common"
        return f"{MICROSOFT_LOGIN}/{tenant}/v2.0/.well-known/openid-configuration"
    if provider == "oidc" and settings.auth_issuer:
        return f"{settings.auth_issuer.rstrip('/')}/.well-known/openid-configuration"
    raise ValueError(f"no OpenID Connect provider is configured ({provider})")


def scopes(settings: ServerSettings) -> str:
    """`openid email profile` plus the configured extra scopes, each once, in order."""
    extra = settings.auth_scopes.replace(",", " ").split()
    return " ".join(dict.fromkeys([*BASE_SCOPES, *extra]))


def build_client(settings: ServerSettings) -> OAuthClient:
    """The authlib client for the configured provider (its discovery is fetched lazily)."""
    secret = settings.auth_client_secret
    oauth = OAuth()
    return oauth.register(
        name=settings.auth_provider,
        client_id=settings.auth_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        server_metadata_url=metadata_url(settings),
        client_kwargs={"scope": scopes(settings), "code_challenge_method": "S256"},
    )


def microsoft_issuer_ok(claims: Mapping[str, Any], tenant: str) -> bool:
    """The id_token's `iss` is Microsoft's issuer for its own `tid`, and that tenant is allowed.

    Multi-tenant discovery publishes a `{tenantid}` template instead of an issuer, so the usual
    exact comparison cannot work; this check replaces it without trusting any issuer at all.
    """
    tid = claims.get("tid")
    if not isinstance(tid, str) or not tid or "/" in tid:
        return False
    if claims.get("iss") != f"{MICROSOFT_LOGIN}/{tid}/v2.0":
        return False
    tenant = tenant.strip().lower() or "common"
    return tenant in MICROSOFT_MULTI_TENANT or tid.lower() == tenant


def _same_issuer(configured: str) -> Any:
    want = configured.rstrip("/")
    return lambda _claims, value: isinstance(value, str) and value.rstrip("/") == want


def claims_options(settings: ServerSettings) -> dict[str, dict[str, Any]]:
    """Which `iss` to accept, per provider; a fresh dict each call (authlib pops `validate`)."""
    provider = settings.auth_provider
    if provider == "google":  # Google documents both spellings of its issuer
        return {"iss": {"essential": True, "values": [GOOGLE_ISSUER, "accounts.google.com"]}}
    if provider == "microsoft":
        tenant = settings.auth_tenant_id
        return {
            "iss": {"essential": True, "validate": lambda c, _v: microsoft_issuer_ok(c, tenant)}
        }
    return {"iss": {"essential": True, "validate": _same_issuer(settings.auth_issuer or "")}}


def _verified(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def identity_from_claims(claims: Mapping[str, Any], provider: str) -> Identity:
    """Turn validated id_token claims into an Identity (issuer + subject are the user's key).

    An email counts as verified only when the provider says so with `email_verified`;
    Microsoft does not send that claim, so its emails never qualify for the admin allow-list.
    """
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str) or not subject:
        raise UnusableIdentity("The identity provider did not say who you are.")
    if provider == "google" and issuer == "accounts.google.com":
        issuer = GOOGLE_ISSUER  # one key per Google account whichever spelling was sent
    if len(issuer) > 500 or len(subject) > 255:
        raise UnusableIdentity("The identity provider sent an identity too long to store.")
    email = claims.get("email")
    email = email.strip() if isinstance(email, str) and 0 < len(email.strip()) <= 320 else None
    name = next(
        (v.strip() for k in ("name", "preferred_username")
         if isinstance(v := claims.get(k), str) and v.strip()),
        email or "",
    )  # fmt: skip
    return Identity(
        issuer=issuer,
        subject=subject,
        email=email,
        email_verified=email is not None and _verified(claims.get("email_verified")),
        name=name[:200],
    )
