"""Request and response bodies of the settings API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from orchestrator.schemas import RequestModel

ModelId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.:/@\[\]*-]+$")]


class ProviderOut(BaseModel):
    id: str
    name: str
    cli: str | None = Field(description="The executable a host needs; null: built in.")
    enabled: bool
    models: list[str] = Field(description="The models people can pick (hidden ones left out).")
    hidden_models: list[str]
    custom_models: list[str]
    reports_usd: bool = Field(description="False: cost is tokens times the price table.")
    hosts: dict[str, str | None] = Field(
        default_factory=dict, description="Session host → installed CLI version (null: none)."
    )


class ProviderPatch(RequestModel):
    enabled: bool | None = None
    hidden_models: list[ModelId] | None = Field(default=None, max_length=200)
    custom_models: list[ModelId] | None = Field(default=None, max_length=200)


class PriceIn(RequestModel):
    """USD per million tokens."""

    input: float = Field(ge=0, le=10_000)
    output: float = Field(ge=0, le=10_000)
    cache_read: float = Field(default=0.0, ge=0, le=10_000)
    cache_write: float = Field(default=0.0, ge=0, le=10_000)


class PriceOut(PriceIn):
    model: str
    default: bool = Field(description="True: the built-in price (no override set).")


class BudgetIn(RequestModel):
    monthly_usd: float = Field(gt=0, le=10_000_000)
    warn_percent: int = Field(default=80, ge=1, le=100)
    blocking: bool = Field(default=True, description="Stop work when it is spent.")


class BudgetStatus(BaseModel):
    id: str
    scope: str
    workspace_id: str | None
    monthly_usd: float
    warn_percent: int
    blocking: bool
    spent_usd: float
    remaining_usd: float
    month: str
