"""The conversation of a Polygent Code session, kept as JSON in the session's HOME.

Keyed by the provider session id (what `resume_session_id` names), written atomically after
every step, so a retried attempt continues where the lost one stopped and the next turn
continues the conversation. Per turn it records where the turn's prompt starts and how the
turn ended, so a retried attempt neither repeats the prompt nor redoes a finished turn.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from .models import Message, Part

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class TurnState(BaseModel):
    start: int  # index of the message holding the turn's prompt
    done: bool = False
    outcome: str | None = None
    final_text: str | None = None


class Conversation(BaseModel):
    id: str
    version: int = 1
    messages: list[Message] = Field(default_factory=list)
    turns: dict[str, TurnState] = Field(default_factory=dict)

    def close_pending(self, reason: str) -> None:
        """Answer tool calls that never got a result (a lost attempt, a budget stop): every
        model API rejects a conversation with a call left unanswered."""
        if not self.messages or self.messages[-1].role != "assistant":
            return
        calls = self.messages[-1].calls()
        if calls:
            results = [
                Part(type="tool_result", id=c.id, name=c.name, is_error=True,
                     text=f"This tool call was not run: {reason}.")
                for c in calls
            ]  # fmt: skip
            self.messages.append(Message(role="user", parts=results))

    def add_prompt(self, text: str) -> int:
        """Append the user's prompt (joined to trailing tool results, keeping roles alternate).

        The same prompt right after itself is not added twice: that is a turn the workflow
        takes again after a rate limit stopped it before the model answered."""
        part = Part(type="text", text=text)
        if self.messages and self.messages[-1].role == "user":
            if self.messages[-1].parts[-1] != part:
                self.messages[-1].parts.append(part)
        else:
            self.messages.append(Message(role="user", parts=[part]))
        return len(self.messages) - 1


class ConversationStore:
    def __init__(self, home: Path) -> None:
        self.folder = home / ".polygent-code" / "sessions"

    def _path(self, session_id: str) -> Path:
        if not SESSION_ID.match(session_id):
            raise ValueError(f"{session_id!r} is not a Polygent Code session id.")
        return self.folder / f"{session_id}.json"

    def new(self) -> Conversation:
        return Conversation(id=f"pc-{uuid.uuid4().hex}")

    def load(self, session_id: str | None) -> Conversation | None:
        """The saved conversation, or None when there is none (or it cannot be read)."""
        if not session_id or not SESSION_ID.match(session_id):
            return None
        try:
            return Conversation.model_validate_json(self._path(session_id).read_bytes())
        except (OSError, ValidationError):
            return None

    def save(self, convo: Conversation) -> None:
        path = self._path(convo.id)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(convo.model_dump_json())
        tmp.replace(path)
