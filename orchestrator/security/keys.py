"""The master encryption keyring and the subkeys derived from it.

One operator-held master key (POLYGENT_ENCRYPTION_KEY, or a file generated once in the data
dir) is never used directly: HKDF derives a separate key per purpose, so the Temporal payload
key that agents receive on registration cannot decrypt secrets stored in the database.
Several master keys may be listed (`kid:base64,kid:base64`, primary first) so keys can rotate.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orchestrator.config import ConfigError

KEY_FILE = "encryption.key"
PURPOSE_PAYLOADS = "temporal-payloads"
PURPOSE_SECRETS = "secrets-at-rest"
PURPOSE_API_KEYS = "host-api-key-pepper"


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


@dataclass(frozen=True)
class Keyring:
    """Key id → 32-byte key; `primary` encrypts, every listed key decrypts."""

    keys: dict[str, bytes]
    primary: str

    @classmethod
    def parse(cls, text: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in (p.strip() for p in text.replace("\n", ",").split(",")):
            if not part:
                continue
            kid, sep, material = part.rpartition(":")
            try:
                raw = _b64d(material)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ConfigError(
                    "Invalid setting POLYGENT_ENCRYPTION_KEY: each key must be 32 bytes, "
                    "base64-encoded, optionally prefixed by a key id (kid:base64)."
                )
            kid = kid if sep else hashlib.sha256(raw).hexdigest()[:8]
            keys[kid] = raw
            order.append(kid)
        if not order:
            raise ConfigError("Invalid setting POLYGENT_ENCRYPTION_KEY: it holds no key.")
        return cls(keys=keys, primary=order[0])

    def serialize(self) -> str:
        ordered = [self.primary, *[k for k in self.keys if k != self.primary]]
        return ",".join(f"{k}:{b64e(self.keys[k])}" for k in ordered)

    def derive(self, purpose: str) -> Keyring:
        """A keyring of the same ids whose keys serve only `purpose`."""
        out = {}
        for kid, key in self.keys.items():
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
            out[kid] = hkdf.derive(key)
        return Keyring(keys=out, primary=self.primary)


def generate_keyring() -> Keyring:
    kid = secrets.token_hex(4)
    return Keyring(keys={kid: secrets.token_bytes(32)}, primary=kid)


def load_master_keyring(configured: str | None, data_dir: Path) -> Keyring:
    """The configured keyring, else the one generated once into the data dir (mode 0600)."""
    if configured:
        return Keyring.parse(configured)
    path = data_dir / KEY_FILE
    if path.exists():
        try:
            return Keyring.parse(path.read_text())
        except ConfigError as exc:
            raise ConfigError(f"The key file {path} is corrupt: {exc}") from None
    ring = generate_keyring()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(ring.serialize() + "\n")
    return ring
