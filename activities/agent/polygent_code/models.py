"""The built-in agent's own conversation model, independent of any model API.

A session may change backend between turns (the model picks it), so the conversation is kept
in this neutral shape and each backend translates it to its wire format. Signatures (Anthropic
thinking, Gemini thought signatures) only make sense to the backend that issued them, so a
part remembers its `origin` and other backends drop the signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.contracts.agent import Usage

PartType = Literal["text", "thinking", "tool_call", "tool_result"]


class Part(BaseModel):
    type: PartType
    text: str = ""
    id: str | None = None  # tool call id (on tool_call and tool_result)
    name: str | None = None  # tool name
    input: dict[str, Any] | None = None
    is_error: bool = False
    signature: str | None = None
    origin: str | None = None  # the backend that produced `signature`


class Message(BaseModel):
    role: Literal["user", "assistant"]
    parts: list[Part] = Field(default_factory=list)

    def calls(self) -> list[Part]:
        return [p for p in self.parts if p.type == "tool_call"]

    def text(self) -> str:
        return "".join(p.text for p in self.parts if p.type == "text")


@dataclass(frozen=True)
class ToolSpec:
    """What the model is told about a tool: name, description and a JSON schema of its input."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass
class ModelReply:
    """One finished model message."""

    message_id: str
    parts: list[Part] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None


class ApiError(Exception):
    """A model API call failed; `retry_after` is the reset time when the API gave one."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable
