"""Kilo CLI (`@kilocode/cli`, binary `kilo`): headless `kilo run --format json` turns.

Kilo is a fork of OpenCode with the same `run` flags, events and config schema, so the command,
config and outcome come from `opencode_family`. Kilo specifics: `~/.config/kilo/kilo.json`, the
`KILO_*` switches, telemetry off (`KILO_TELEMETRY_LEVEL=off`, PostHog otherwise), no codebase
indexing, no daemon, no session ingest or presence, and its own gateway disabled
(`disabled_providers: ["kilo"]`, it fetches a model list at start) unless the model is a
`kilo/…` one. No `--auto`: rules we set to allow need none, and an "ask" stays a refusal.
"""

from __future__ import annotations

from .opencode_family import FamilySpec, OpenCodeFamilyAdapter

SPEC = FamilySpec(
    name="Kilo CLI",
    executable="kilo",
    app="kilo",
    schema="https://app.kilo.ai/config.json",
    plugin_package="@kilocode/plugin",
    env_prefix="KILO",
    quiet_env={
        "KILO_TELEMETRY_LEVEL": "off",
        "KILO_DISABLE_CODEBASE_INDEXING": "1",
        "KILO_NO_DAEMON": "1",
        "KILO_DISABLE_SESSION_INGEST": "1",
        "KILO_DISABLE_PRESENCE": "1",
    },
    disabled_providers=("kilo",),
)


class KiloCliAdapter(OpenCodeFamilyAdapter):
    name = "kilo-cli"

    def __init__(self, executable: str | None = None) -> None:
        super().__init__(SPEC, executable)
