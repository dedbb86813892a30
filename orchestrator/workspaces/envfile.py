"""Variables as `.env` text or JSON, both ways.

Parsing uses python-dotenv's own parser (comments, `export`, single and double quotes,
escapes, multi-line quoted values) without its `${VAR}` interpolation: values are stored
exactly as written. Export never contains secret values:

* `.env`: each secret variable becomes a comment line `# NAME=<secret: not exported>`, so
  importing the file again leaves secret values as they are;
* JSON: a list of `{name, value, secret}` where secret entries have `value: null`; import
  skips entries without a value (reported as `skipped`).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from dotenv.parser import parse_stream
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from orchestrator.workspaces.errors import Invalid
from orchestrator.workspaces.validation import ENV_NAME

MAX_ENTRIES = 2000
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@+,%=-]*$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class Entry(BaseModel):
    """One imported variable; `value: None` means "keep what is stored" (a secret export)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: str | None
    secret: bool | None = None


_JSON = TypeAdapter[dict[str, str] | list[Entry]](dict[str, str] | list[Entry])


def _check(entries: list[Entry]) -> list[Entry]:
    if len(entries) > MAX_ENTRIES:
        raise Invalid("content", f"holds more than {MAX_ENTRIES} variables")
    for i, e in enumerate(entries, 1):
        if not re.match(ENV_NAME, e.name) or len(e.name) > 200:
            raise Invalid("content", f"entry {i}: {e.name[:50]!r} is not a valid variable name")
        if e.value is not None and (len(e.value) > 65_536 or "\x00" in e.value):
            raise Invalid("content", f"entry {i} ({e.name}): the value is too long or has NUL")
    return entries


def parse_env(text: str) -> list[Entry]:
    entries = []
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            raise Invalid("content", f"line {line}: not a NAME=value line")
        if binding.key is None:
            continue  # blank line or comment
        if binding.value is None:
            raise Invalid("content", f"line {line}: {binding.key[:50]} has no '='")
        entries.append(Entry(name=binding.key, value=binding.value))
    return _check(entries)


def parse_json(text: str) -> list[Entry]:
    try:
        data: Any = _JSON.validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or "document"
        raise Invalid(
            "content", f"{where}: {err['msg']} (expected an object of strings or a list of "
            "{name, value, secret})"
        ) from None  # fmt: skip
    if isinstance(data, dict):
        return _check([Entry(name=k, value=v) for k, v in data.items()])
    return _check(list(data))


def _quote(value: str) -> str:
    if _PLAIN.match(value):
        return value
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def render_env(variables: list[tuple[str, str | None]]) -> str:
    """`(name, value)` pairs, value None for secrets; the text round-trips through parse_env."""
    lines = ["# Exported by Polygent. Secret values are never exported."]
    for name, value in variables:
        lines.append(
            f"# {name}=<secret: not exported>" if value is None else f"{name}={_quote(value)}"
        )
    return "\n".join(lines) + "\n"


def render_json(variables: list[tuple[str, str | None]]) -> str:
    return json.dumps(
        [{"name": n, "value": v, "secret": v is None} for n, v in variables], indent=2
    )
