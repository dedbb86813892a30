"""Provider settings, the model price table and budgets (instance-wide, `settings.manage`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, utcnow


class ProviderSetting(Base):
    """One provider's switch and model list; a missing row means the provider's defaults."""

    __tablename__ = "provider_settings"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    hidden_models: Mapped[list[str]] = mapped_column(JSON, default=list)
    custom_models: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelPriceRow(Base):
    """USD per million tokens for a model id or a `prefix*` pattern (overrides the defaults)."""

    __tablename__ = "model_prices"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    input: Mapped[float] = mapped_column(Float)
    output: Mapped[float] = mapped_column(Float)
    cache_read: Mapped[float] = mapped_column(Float, default=0.0)
    cache_write: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Budget(IdMixin, Base):
    """A monthly USD limit (calendar month, UTC): instance-wide or for one workspace."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("scope", "workspace_id"),)

    scope: Mapped[str] = mapped_column(String(16))  # global | workspace
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), default=None
    )
    monthly_usd: Mapped[float] = mapped_column(Float)
    warn_percent: Mapped[int] = mapped_column(default=80)
    blocking: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BudgetAlert(Base):
    """A warning or breach already announced for a budget in a month (announced once)."""

    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("budget_id", "month", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    budget_id: Mapped[str] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    level: Mapped[str] = mapped_column(String(8))  # warn | exceeded
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
