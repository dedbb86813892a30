"""The master keyring, derived subkeys and the Temporal payload codec."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from orchestrator.config import ConfigError
from orchestrator.security.keys import (
    PURPOSE_API_KEYS,
    PURPOSE_PAYLOADS,
    PURPOSE_SECRETS,
    Keyring,
    b64e,
    load_master_keyring,
)
from orchestrator.temporal import EncryptionCodec

pytestmark = pytest.mark.foundation


def ring(*kids: str) -> Keyring:
    return Keyring.parse(",".join(f"{k}:{b64e(os.urandom(32))}" for k in kids))


def test_key_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    first = load_master_keyring(None, tmp_path)
    again = load_master_keyring(None, tmp_path)
    assert first == again
    assert stat.S_IMODE((tmp_path / "encryption.key").stat().st_mode) == 0o600


def test_corrupt_key_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "encryption.key").write_text("garbage")
    with pytest.raises(ConfigError, match=r"The key file .* is corrupt"):
        load_master_keyring(None, tmp_path)


def test_bad_configured_key() -> None:
    with pytest.raises(ConfigError, match="POLYGENT_ENCRYPTION_KEY: each key must be 32 bytes"):
        Keyring.parse("k1:dG9vc2hvcnQ")


def test_subkeys_differ_per_purpose() -> None:
    master = ring("a")
    derived = {
        p: master.derive(p).keys["a"] for p in (PURPOSE_PAYLOADS, PURPOSE_SECRETS, PURPOSE_API_KEYS)
    }
    assert len(set(derived.values())) == 3
    assert master.keys["a"] not in derived.values()
    assert master.derive(PURPOSE_PAYLOADS) == master.derive(PURPOSE_PAYLOADS)


async def test_codec_round_trip_hides_plaintext() -> None:
    codec = EncryptionCodec(ring("k1"))
    secret = b'{"pat":"ghp_supersecretvalue123"}'
    [enc] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=secret)])
    assert enc.metadata["encoding"] == b"binary/encrypted"
    assert enc.metadata["encryption-key-id"] == b"k1"
    assert b"supersecret" not in enc.SerializeToString()
    [dec] = await codec.decode([enc])
    assert dec.data == secret and dec.metadata["encoding"] == b"json/plain"


async def test_codec_rotation_old_key_still_decrypts() -> None:
    old = ring("old")
    rotated = Keyring(keys={"new": os.urandom(32), **old.keys}, primary="new")
    [enc_old] = await EncryptionCodec(old).encode([Payload(data=b"before rotation")])
    codec = EncryptionCodec(rotated)
    [dec] = await codec.decode([enc_old])
    assert dec.data == b"before rotation"
    [enc_new] = await codec.encode([Payload(data=b"after")])
    assert enc_new.metadata["encryption-key-id"] == b"new"
    with pytest.raises(ValueError, match="unknown key id 'new'"):
        await EncryptionCodec(old).decode([enc_new])


async def test_codec_detects_tampering() -> None:
    codec = EncryptionCodec(ring("k1"))
    [enc] = await codec.encode([Payload(data=b"value")])
    enc.data = enc.data[:-1] + bytes([enc.data[-1] ^ 1])
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        await codec.decode([enc])


async def test_unencrypted_payloads_pass_through() -> None:
    p = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert await EncryptionCodec(ring("k1")).decode([p]) == [p]
