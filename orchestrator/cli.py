"""The `polygent` command: one code base, several process roles."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

from orchestrator.config import (
    AgentSettings,
    ConfigError,
    ServerSettings,
    load_settings,
    read_agent_file,
)
from orchestrator.logs import configure_logging

log = logging.getLogger("polygent")

SETTINGS_HELP = """\
settings (environment variables):
  POLYGENT_DATA_DIR            where SQLite, the Temporal state, keys and logs live
  POLYGENT_DATABASE_URL        sqlite:///path or postgresql://user:pass@host/db
                               (default: SQLite in the data dir)
  POLYGENT_TEMPORAL_ADDRESS    host:port of an external Temporal cluster
                               (default: the embedded dev server)
  POLYGENT_TEMPORAL_NAMESPACE  default polygent
  POLYGENT_TEMPORAL_PORT / POLYGENT_TEMPORAL_UI_PORT   embedded server ports (7233 / 8233)
  POLYGENT_API_HOST / POLYGENT_API_PORT                where the API listens (127.0.0.1:8000)
  POLYGENT_ENCRYPTION_KEY      master key (kid:base64, several comma-separated to rotate);
                               default: generated once into the data dir
agents (agent-worker, deploy-worker) read POLYGENT_AGENT_NAME, _MAIN_SERVER_URL, _API_KEY and
_STORAGE_PATH, or a --config file with Name, MainServerUrl, ApiKey and StoragePath.
See docs/operations.md for every setting.
"""

Runner = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def _run(runner: Runner) -> int:
    """Run a role until SIGINT/SIGTERM; startup problems print one sentence and exit 1."""
    from orchestrator.hostagent.client import AgentRejected
    from orchestrator.server import StartupError

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runner(stop)

    try:
        asyncio.run(main())
    except (StartupError, ConfigError, AgentRejected) as exc:
        print(f"polygent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _server_settings(args: argparse.Namespace) -> ServerSettings:
    s = load_settings(ServerSettings)
    configure_logging(s.log_level, s.log_format)
    return s


def _agent_settings(args: argparse.Namespace) -> AgentSettings:
    file_values = read_agent_file(Path(args.config)) if args.config else {}
    s = load_settings(AgentSettings, **file_values)
    configure_logging(s.log_level, s.log_format)
    return s


def cmd_up(args: argparse.Namespace) -> int:
    from orchestrator.roles import run_up

    s = _server_settings(args)
    return _run(lambda stop: run_up(s, stop))


def cmd_api(args: argparse.Namespace) -> int:
    from orchestrator.roles import run_api

    s = _server_settings(args)
    return _run(lambda stop: run_api(s, stop))


def cmd_worker(args: argparse.Namespace) -> int:
    from orchestrator.roles import run_orchestrator

    s = _server_settings(args)
    return _run(lambda stop: run_orchestrator(s, stop))


def cmd_agent(kind: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from orchestrator.roles import run_agent

        s = _agent_settings(args)
        return _run(lambda stop: run_agent(s, kind, stop))

    return run


def cmd_migrate(args: argparse.Namespace) -> int:
    from orchestrator import migrate
    from orchestrator.server import migrate as migrate_db
    from orchestrator.server import open_database, prepare_data_dir

    s = _server_settings(args)

    async def main(_: asyncio.Event) -> None:
        prepare_data_dir(s.data_dir)
        db = await open_database(s)
        try:
            if args.downgrade:
                await migrate.downgrade(db.url, args.downgrade)
                print(
                    f"Database downgraded to {await migrate.current_revision(db.url) or 'nothing'}."
                )
            else:
                print(f"Database schema is at revision {await migrate_db(db)}.")
        finally:
            await db.dispose()

    return _run(main)


def cmd_mint_key(args: argparse.Namespace) -> int:
    from orchestrator.base import utcnow
    from orchestrator.hosts.service import HostService
    from orchestrator.security.keys import PURPOSE_API_KEYS
    from orchestrator.server import admin_context

    s = _server_settings(args)

    async def main(_: asyncio.Event) -> None:
        async with admin_context(s) as (master, db), db.session() as session:
            expires = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None
            row, plaintext = await HostService(session, master.derive(PURPOSE_API_KEYS)).mint_key(
                args.name, args.type, expires_at=expires, created_by="cli"
            )
        print(f"Host API key {row.id} ({args.type}) for {args.name}; shown once, store it now:")
        print(plaintext)

    return _run(main)


def cmd_setup_token(args: argparse.Namespace) -> int:
    from api.state import AppState
    from orchestrator.roles import setup_link
    from orchestrator.server import admin_context

    s = _server_settings(args)

    async def main(_: asyncio.Event) -> None:
        async with admin_context(s) as (master, db):
            link = await setup_link(AppState(settings=s, db=db, master=master))
        if link is None:
            print("An administrator exists already; admins grant roles from the dashboard.")
        else:
            print(f"The first person to open this link becomes the administrator:\n{link}")

    return _run(main)


def cmd_rotate_secrets(args: argparse.Namespace) -> int:
    from orchestrator.secrets.rotation import rotate_secrets
    from orchestrator.security.crypto import SecretBox, SecretDecryptError
    from orchestrator.server import StartupError, admin_context

    s = _server_settings(args)

    async def main(_: asyncio.Event) -> None:
        async with admin_context(s) as (master, db):
            box = SecretBox(master)
            try:
                async with db.session() as session:
                    swept = await rotate_secrets(session, box)
            except SecretDecryptError as exc:
                raise StartupError(
                    f"A stored secret does not decrypt with any listed key ({exc}); "
                    "nothing was changed. Keep every old key listed until the sweep succeeds."
                ) from None
        for c in swept:
            print(f"{c.column}: {c.rotated} of {c.total} re-encrypted under key {box.primary}")

    return _run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polygent",
        description="Polygent on Temporal: a self-hosted platform that runs AI coding agents.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SETTINGS_HELP,
    )
    parser.add_argument("--version", action="version", version=f"polygent {version('polygent')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=SETTINGS_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        p.set_defaults(fn=fn)
        return p

    add("up", cmd_up, "Start everything on this machine: embedded Temporal, migrations, API, "
        "orchestrator worker, a local session agent and a local deployment agent.")  # fmt: skip
    add("api", cmd_api, "Run the API and dashboard.")
    add("worker", cmd_worker, "Run the orchestrator worker (every workflow, control activities).")
    for name, kind, what in (
        ("agent-worker", "session", "a session agent that runs agent CLIs in worktrees"),
        ("deploy-worker", "deploy", "a deployment agent that runs preview slots"),
    ):
        p = add(name, cmd_agent(kind), f"Run {what} on this host.")
        p.add_argument(
            "--config", metavar="FILE", help="JSON/TOML: Name, MainServerUrl, ApiKey, StoragePath"
        )
    p = add("migrate", cmd_migrate, "Bring the database schema up to date (or --downgrade).")
    p.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION ('base' = empty)")
    add("setup-token", cmd_setup_token, "Print a new one-time link that makes its user the first "
        "administrator (only while there is none).")  # fmt: skip
    hosts = sub.add_parser("hosts", help="Manage hosts and their API keys.")
    hsub = hosts.add_subparsers(dest="hosts_command", metavar="COMMAND", required=True)
    p = hsub.add_parser("mint-key", help="Create a host API key (shown once).")
    p.set_defaults(fn=cmd_mint_key)
    p.add_argument("--name", required=True, help="a label for the key")
    p.add_argument("--type", required=True, choices=["session", "deploy"], help="host type")
    p.add_argument("--expires-days", type=int, choices=[30, 90, 365], help="expiry (default never)")
    secrets = sub.add_parser("secrets", help="Manage secrets stored in the database.")
    ssub = secrets.add_subparsers(dest="secrets_command", metavar="COMMAND", required=True)
    p = ssub.add_parser("rotate", help="Re-encrypt every stored secret under the primary key "
                        "(the first of POLYGENT_ENCRYPTION_KEY); safe to run again.")  # fmt: skip
    p.set_defaults(fn=cmd_rotate_secrets)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
        rc: int = args.fn(args)
    except ConfigError as exc:
        print(f"polygent: {exc}", file=sys.stderr)
        rc = 2
    if argv is None:  # run as the `polygent` program (tests pass argv and get the code back)
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> NoReturn:
    """Exit without interpreter teardown: the Temporal SDK's Rust threads can still touch
    Python objects while it finalizes, which aborts the process with "PyGILState_Release"
    (temporalio/sdk-python#300) after a clean stop. Everything is closed by now."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
