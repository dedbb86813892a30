"""Logging: a sentence per line (or JSON lines), with every known secret value redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

MIN_SECRET_LEN = 6
TOKEN_PATTERNS = [
    re.compile(r"pgk_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@"),
]


class Redactor:
    """Process-wide registry of secret values that must never reach a log line."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_LEN:
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, "***")
        for pat in TOKEN_PATTERNS:
            text = pat.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
        return text


REDACTOR = Redactor()


class RedactingFormatter(logging.Formatter):
    def __init__(self, json_lines: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        if self.json_lines:
            data: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            data.update(getattr(record, "fields", {}))
            if record.exc_info:
                data["exception"] = self.formatException(record.exc_info)
            return REDACTOR.redact(json.dumps(data, default=str))
        return REDACTOR.redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(json_lines=fmt == "json"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "temporalio.worker._worker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
