"""Our own access tokens: short-lived JWTs (HS256, algorithm pinned, key id in the header).

Only this API verifies them, so a symmetric key derived from the master key is enough; the
key id lets the master key rotate without signing everyone out at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from orchestrator.security.keys import Keyring

PURPOSE_ACCESS_TOKENS = "access-tokens"
ALGORITHM = "HS256"
ISSUER = "polygent"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or signed with a retired key."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    family_id: str
    expires_at: datetime


class AccessTokens:
    def __init__(self, master: Keyring, minutes: int) -> None:
        ring = master.derive(PURPOSE_ACCESS_TOKENS)
        self._keys = {kid: OctKey.import_key(key) for kid, key in ring.keys.items()}
        self._primary = ring.primary
        self.lifetime = timedelta(minutes=minutes)

    def issue(self, user_id: str, family_id: str, now: datetime) -> tuple[str, datetime]:
        expires = now + self.lifetime
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "sid": family_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        header = {"alg": ALGORITHM, "kid": self._primary, "typ": "JWT"}
        return jwt.encode(
            header, claims, self._keys[self._primary], algorithms=[ALGORITHM]
        ), expires

    def verify(self, token: str, now: datetime) -> AccessClaims:
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("malformed token") from None
        key = self._keys.get(str(kid))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("bad signature") from None
        c = decoded.claims
        if c.get("iss") != ISSUER or not isinstance(c.get("exp"), int):
            raise InvalidToken("not one of our tokens")
        if c["exp"] <= int(now.timestamp()):
            raise InvalidToken("expired")
        if not isinstance(c.get("sub"), str) or not isinstance(c.get("sid"), str):
            raise InvalidToken("incomplete claims")
        return AccessClaims(c["sub"], c["sid"], datetime.fromtimestamp(c["exp"], now.tzinfo))
