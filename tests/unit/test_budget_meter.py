"""The agent-side budget check: snapshot usage counts once per message, a reported USD total
wins when higher, and the event that crosses the budget stops the turn."""

from __future__ import annotations

import pytest

from activities.agent.budget import BudgetMeter, BudgetReached
from orchestrator.contracts.agent import AgentEvent, ModelPrice, Usage
from orchestrator.pricing import DEFAULT_PRICES, cost_of, price_for, usage_cost

pytestmark = pytest.mark.providers
PRICE = ModelPrice(input=10, output=100)  # USD per million tokens


def usage(mid: str, inp: int, out: int) -> AgentEvent:
    return AgentEvent(kind="usage", message_id=mid, usage=Usage(input=inp, output=out))


def test_snapshots_of_one_message_count_once_and_the_crossing_event_stops() -> None:
    meter = BudgetMeter(budget_usd=0.01, price=PRICE)
    meter.add([usage("m1", 100, 10), usage("m1", 100, 50)])  # the second is a later snapshot
    assert meter.usage == Usage(input=100, output=50)
    assert meter.spent == pytest.approx((100 * 10 + 50 * 100) / 1e6)
    with pytest.raises(BudgetReached, match=r"budget of \$0\.0100"):
        meter.add([usage("m2", 1000, 100)])
    result = meter.result("sess-1")
    assert result.outcome == "budget_exceeded" and not result.ok
    assert result.provider_session_id == "sess-1" and result.cost_usd == pytest.approx(0.026)


def test_a_reported_total_counts_and_no_budget_never_stops() -> None:
    meter = BudgetMeter(budget_usd=None, price=None)
    meter.add([usage("m1", 10**6, 10**6), AgentEvent(kind="result", cost_usd=3.5)])
    assert meter.spent == 3.5
    capped = BudgetMeter(budget_usd=1.0, price=None)
    with pytest.raises(BudgetReached):
        capped.add([AgentEvent(kind="result", cost_usd=1.5)])


def test_the_most_specific_price_pattern_wins() -> None:
    assert price_for("gpt-5-mini-2025", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-5-mini*"]
    assert price_for("gpt-5", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-5*"]
    assert (
        price_for("openrouter/anthropic/claude-sonnet-4.5", DEFAULT_PRICES)
        == (DEFAULT_PRICES["claude-sonnet-*"])
    )
    assert price_for("unknown-model", DEFAULT_PRICES) is None
    assert cost_of("unknown-model", Usage(input=5)) is None
    assert cost_of("gpt-5", Usage(input=1_000_000, output=1_000_000)) == pytest.approx(11.25)


def test_usd_reported_per_message_adds_up() -> None:
    meter = BudgetMeter(budget_usd=1.0, price=None)
    first = AgentEvent(kind="usage", message_id="m1", usage=Usage(input=1), cost_usd=0.4)
    meter.add([first, first.model_copy(update={"cost_usd": 0.5})])  # a later snapshot
    assert meter.spent == 0.5
    with pytest.raises(BudgetReached):
        meter.add([AgentEvent(kind="usage", message_id="m2", usage=Usage(input=1), cost_usd=0.6)])


def test_running_totals_match_pricing_every_message_afresh() -> None:
    """The meter keeps running totals; they must equal summing and pricing every message's
    last snapshot from scratch, whatever the order of snapshots."""
    meter = BudgetMeter(budget_usd=None, price=PRICE)
    snapshots = [("m1", 10, 1), ("m2", 20, 2), ("m1", 15, 7), ("m3", 5, 0), ("m2", 40, 9)]
    for mid, inp, out in snapshots:
        meter.add([usage(mid, inp, out)])
    last = {"m1": (15, 7), "m2": (40, 9), "m3": (5, 0)}
    assert meter.usage == Usage(input=60, output=16)
    fresh = sum(usage_cost(Usage(input=i, output=o), PRICE) for i, o in last.values())
    assert meter.spent == pytest.approx(fresh)
