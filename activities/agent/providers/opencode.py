"""OpenCode (`opencode-ai`, binary `opencode`): headless `opencode run --format json` turns.

The command, config and outcome are shared with its fork Kilo CLI (see `opencode_family`).
OpenCode specifics: its config lives in `~/.config/opencode/opencode.json` under the isolated
HOME, the `OPENCODE_*` switches turn off the models.dev fetch, autoupdate, sharing and LSP
downloads, and the seeded lock file stops the one `registry.npmjs.org` request the reference saw.
"""

from __future__ import annotations

from .opencode_family import FamilySpec, OpenCodeFamilyAdapter

SPEC = FamilySpec(
    name="OpenCode",
    executable="opencode",
    app="opencode",
    schema="https://opencode.ai/config.json",
    plugin_package="@opencode-ai/plugin",
    env_prefix="OPENCODE",
)


class OpenCodeAdapter(OpenCodeFamilyAdapter):
    name = "opencode"

    def __init__(self, executable: str | None = None) -> None:
        super().__init__(SPEC, executable)
