"""The token counts Codex records in a thread's rollout file.

The rollout is `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`.
`codex exec --json` reports usage only when the run ends, and then cumulatively over the
thread. The rollout records the thread's running total after every model request: a
`token_usage_record` (`thread_token_usage`) as the response completes, before its tool calls
run, and a `token_count` event (`info.total_token_usage`) after them. Read before a resumed
run, it gives the totals to subtract; read while the run goes on, it gives the running usage
a budget is checked against.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
THREAD_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


def raw_usage(data: Any) -> dict[str, int]:
    """Codex's usage object with every known counter (missing ones are 0)."""
    source = data if isinstance(data, dict) else {}
    return {k: int(source.get(k) or 0) for k in USAGE_KEYS}


class RolloutTail:
    """Reads a thread's rollout incrementally, from where the last read stopped.

    The file is found by the thread id once it exists (Codex creates it as the thread starts);
    only complete lines are read, so a line being written is read next time.
    """

    def __init__(self, codex_home: Path, thread_id: str | None = None) -> None:
        self.codex_home = codex_home
        self.thread_id = thread_id
        self.path: Path | None = None
        self.offset = 0

    def _locate(self) -> Path | None:
        if self.path is None and self.thread_id and THREAD_ID.match(self.thread_id):
            pattern = f"**/rollout-*-{self.thread_id}.jsonl"
            found = sorted((self.codex_home / "sessions").glob(pattern))
            self.path = found[-1] if found else None
        return self.path

    def latest_total(self) -> dict[str, int] | None:
        """The thread's cumulative usage in the lines added since the last read, if any."""
        path = self._locate()
        if path is None:
            return None
        try:
            with path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return None
        end = data.rfind(b"\n") + 1
        self.offset += end
        latest: dict[str, int] | None = None
        for line in data[:end].splitlines():
            if b'"token_count"' not in line and b'"token_usage_record"' not in line:
                continue
            try:
                payload = json.loads(line).get("payload") or {}
                total = payload.get("thread_token_usage") or (payload.get("info") or {}).get(
                    "total_token_usage"
                )
            except (ValueError, AttributeError):
                continue
            if isinstance(total, dict):
                latest = raw_usage(total)
        return latest
