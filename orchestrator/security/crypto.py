"""Secrets at rest: AES-256-GCM with the key id in the stored value and the owning row bound
as associated data, so a value copied into another row (or column) does not decrypt.

Stored form: `v1.<key id>.<base64(nonce || ciphertext+tag)>`. The key comes from the master
keyring (HKDF purpose `secrets-at-rest`); rotation adds a new primary key and re-encrypts.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestrator.security.keys import PURPOSE_SECRETS, Keyring

VERSION = "v1"


class SecretDecryptError(Exception):
    """The value is corrupt, was moved from another row, or its key is gone."""


def aad(table: str, column: str, row_id: str) -> str:
    return f"{table}.{column}:{row_id}"


class SecretBox:
    def __init__(self, master: Keyring) -> None:
        self._ring = master.derive(PURPOSE_SECRETS)

    @property
    def primary(self) -> str:
        return self._ring.primary

    def encrypt(self, plaintext: str, associated: str) -> str:
        nonce = os.urandom(12)
        key = self._ring.keys[self._ring.primary]
        ct = AESGCM(key).encrypt(nonce, plaintext.encode(), associated.encode())
        blob = base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")
        return f"{VERSION}.{self._ring.primary}.{blob}"

    def decrypt(self, stored: str, associated: str) -> str:
        try:
            version, kid, blob = stored.split(".", 2)
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        except ValueError:
            raise SecretDecryptError("not an encrypted value") from None
        if version != VERSION or kid not in self._ring.keys:
            raise SecretDecryptError(f"encrypted with an unknown key ({kid})")
        try:
            return (
                AESGCM(self._ring.keys[kid])
                .decrypt(raw[:12], raw[12:], associated.encode())
                .decode()
            )
        except InvalidTag:
            raise SecretDecryptError("does not belong to this row, or was altered") from None

    def key_id(self, stored: str) -> str:
        return stored.split(".", 2)[1]

    def rotate(self, stored: str, associated: str) -> str | None:
        """The value re-encrypted under the primary key, or None when it already is."""
        if self.key_id(stored) == self.primary:
            return None
        return self.encrypt(self.decrypt(stored, associated), associated)
