"""The running cost of a turn, checked on every event: a CLI without a native USD cap is
stopped the moment its turn crosses the budget the workflow gave it."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.contracts.agent import AgentEvent, ModelPrice, TurnResult, Usage
from orchestrator.pricing import usage_cost


class BudgetReached(Exception):
    """Raised from the event callback: the runner kills the CLI's tree and re-raises."""


class BudgetMeter:
    """Usage per model message (providers repeat a message's usage as it grows: the last
    snapshot counts), priced by `price`; USD the provider reports (per message, or as the
    turn's total) wins when higher. Running totals keep each event's check O(1), however
    long the turn (re-pricing every message per event made long turns quadratic)."""

    def __init__(self, budget_usd: float | None, price: ModelPrice | None) -> None:
        self.budget = budget_usd
        self.price = price
        self.by_message: dict[str, Usage] = {}
        self.message_usd: dict[str, float] = {}  # USD a provider reports per message
        self.reported = 0.0  # a USD total for the turn (a result line)
        self.stopped: str | None = None  # why the API stopped the turn (a spent budget)
        self._tokens = [0, 0, 0, 0]  # input, output, cache read, cache write: all messages
        self._priced = 0.0  # their cost at `price`
        self._usd = 0.0  # the sum of `message_usd`

    @property
    def usage(self) -> Usage:
        i, o, r, w = self._tokens
        return Usage(input=i, output=o, cache_read=r, cache_write=w)

    @property
    def spent(self) -> float:
        return max(self._priced, self._usd, self.reported)

    def _set_usage(self, key: str, new: Usage) -> None:
        old = self.by_message.get(key, Usage())
        self.by_message[key] = new
        for n, (a, b) in enumerate(
            ((old.input, new.input), (old.output, new.output),
             (old.cache_read, new.cache_read), (old.cache_write, new.cache_write))
        ):  # fmt: skip
            self._tokens[n] += b - a
        if self.price is not None:
            self._priced += usage_cost(new, self.price) - usage_cost(old, self.price)

    def add(self, events: Iterable[AgentEvent]) -> None:
        for e in events:
            if e.kind == "usage":
                key = e.message_id or f"#{len(self.by_message)}"
                if e.usage is not None:
                    self._set_usage(key, e.usage)
                if e.cost_usd is not None:
                    self._usd += e.cost_usd - self.message_usd.get(key, 0.0)
                    self.message_usd[key] = e.cost_usd
            elif e.kind == "result" and e.cost_usd is not None:
                self.reported = max(self.reported, e.cost_usd)
        if self.budget is not None and self.spent > self.budget:
            raise BudgetReached(self.message)

    def stop(self, why: str) -> None:
        """The API reports a blocking budget spent (by this turn and any running beside it)."""
        self.stopped = f"{why} The agent was stopped."
        raise BudgetReached(self.stopped)

    def result(self, provider_session_id: str | None) -> TurnResult:
        return TurnResult(
            ok=False, outcome="budget_exceeded", error=self.message,
            provider_session_id=provider_session_id, usage=self.usage,
            cost_usd=round(self.spent, 8),
        )  # fmt: skip

    @property
    def message(self) -> str:
        if self.stopped:
            return self.stopped
        return (
            f"The turn reached its budget of ${self.budget or 0:.4f} "
            f"(${self.spent:.4f} spent); the agent was stopped."
        )
