"""What every request handler may use, built once per API process."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from orchestrator.auth.tokens import AccessTokens
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from orchestrator.events import EventBus
from orchestrator.security.crypto import SecretBox
from orchestrator.security.keys import PURPOSE_API_KEYS, PURPOSE_PAYLOADS, Keyring


@dataclass
class AppState:
    settings: ServerSettings
    db: Database
    master: Keyring
    temporal: Client | None = None
    bus: EventBus = field(default_factory=EventBus)
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run a fire-and-forget duty, keeping a reference so it is not collected."""
        task = asyncio.create_task(coro, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def __post_init__(self) -> None:
        # Derived once per process: every heartbeat and request uses them (HKDF is not free).
        self.access = AccessTokens(self.master, self.settings.access_token_minutes)
        self.pepper: Keyring = self.master.derive(PURPOSE_API_KEYS)
        self.payload_keys: Keyring = self.master.derive(PURPOSE_PAYLOADS)
        self.secrets = SecretBox(self.master)
