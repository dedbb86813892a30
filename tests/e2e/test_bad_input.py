"""Bad input ends with one sentence on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket

import pytest

from tests.e2e.conftest import Polygent, Result, free_ports

pytestmark = [pytest.mark.foundation, pytest.mark.slow]


def one_sentence(res: Result, *fragments: str, rc: int | None = None) -> str:
    """Assert a clean refusal: non-zero exit, one `polygent: ` line, no traceback."""
    assert res.returncode != 0, str(res)
    if rc is not None:
        assert res.returncode == rc, str(res)
    assert "Traceback" not in res.stderr, str(res)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, str(res)
    line = lines[0]
    assert line.startswith("polygent: "), str(res)
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


@pytest.mark.parametrize("command", ["up", "api"])
def test_port_in_use(polygent: Polygent, command: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", polygent.api_port))
        holder.listen()
        res = polygent.run(command, timeout=30)
    one_sentence(res, str(polygent.api_port), "POLYGENT_API_PORT", "in use")


def test_port_in_use_temporal(polygent: Polygent) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", polygent.temporal_port))
        holder.listen()
        res = polygent.run("up", timeout=30)
    one_sentence(res, str(polygent.temporal_port), "POLYGENT_TEMPORAL_PORT")


def test_unreachable_database(polygent: Polygent) -> None:
    (closed,) = free_ports(1)
    url = f"postgresql://u:hunter2pass@127.0.0.1:{closed}/x"
    res = polygent.run("migrate", env=polygent.env(POLYGENT_DATABASE_URL=url))
    one_sentence(res, "Cannot reach the database", f"127.0.0.1:{closed}")
    assert "hunter2pass" not in res.stderr + res.stdout


def test_unreachable_temporal(polygent: Polygent) -> None:
    assert polygent.run("migrate").returncode == 0
    (closed,) = free_ports(1)
    env = polygent.env(POLYGENT_TEMPORAL_ADDRESS=f"127.0.0.1:{closed}")
    res = polygent.run("worker", env=env, timeout=60)
    one_sentence(res, "Cannot reach Temporal", f"127.0.0.1:{closed}")


@pytest.mark.parametrize("command", ["migrate", "up"])
def test_unwritable_data_dir(polygent: Polygent, command: str) -> None:
    # Root ignores permission bits, so put the data dir below a regular file instead.
    blocker = polygent.tmp / "a-file"
    blocker.write_text("not a directory")
    res = polygent.run(command, env=polygent.env(POLYGENT_DATA_DIR=blocker / "data"))
    one_sentence(res, "data directory", str(blocker / "data"), "POLYGENT_DATA_DIR")


def test_corrupt_database_file(polygent: Polygent) -> None:
    polygent.data_dir.mkdir()
    (polygent.data_dir / "polygent.db").write_bytes(os.urandom(8192))
    res = polygent.run("migrate")
    one_sentence(res, "corrupt", str(polygent.data_dir / "polygent.db"))


@pytest.mark.parametrize(
    "garbage", [os.urandom(64), b"this is not a key\n"], ids=["binary", "text"]
)
def test_corrupt_key_file(polygent: Polygent, garbage: bytes) -> None:
    polygent.data_dir.mkdir()
    (polygent.data_dir / "encryption.key").write_bytes(garbage)
    res = polygent.run("up", timeout=30)
    one_sentence(res, "corrupt", str(polygent.data_dir / "encryption.key"))


def test_schema_not_migrated(polygent: Polygent) -> None:
    res = polygent.run("api", timeout=30)
    one_sentence(res, "`polygent migrate`")


def test_invalid_setting(polygent: Polygent) -> None:
    res = polygent.run("migrate", env=polygent.env(POLYGENT_API_PORT="eighty"))
    one_sentence(res, "Invalid setting POLYGENT_API_PORT", rc=2)
    res = polygent.run("up", env=polygent.env(POLYGENT_DATABASE_URL="mysql://x@y/z"))
    one_sentence(res, "Invalid setting POLYGENT_DATABASE_URL", rc=2)


def test_unknown_setting(polygent: Polygent) -> None:
    res = polygent.run("up", env=polygent.env(POLYGENT_API_PROT="8080"))
    one_sentence(res, "Unknown setting POLYGENT_API_PROT", rc=2)
