"""The model router against the fake LLM, through the real litellm over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from bot.config import Config
from bot.llm import catalog
from bot.llm.model_router import (
    AllModelsFailed,
    BudgetExceeded,
    InvalidOutput,
    ModelResult,
    ModelRouter,
    NoModelFits,
)
from bot.store.ledger import Call, Ledger
from tests.conftest import TEST_MODELS
from tests.fakes.llm import Fail, FakeLLM, Hang, Reply
from tests.litellm_loop import run_released

REPO = "octo/widgets"
JOB = "delivery-1:spec:#1"
MESSAGES = [{"role": "system", "content": "You write specs."}, {"role": "user", "content": "Design a cache."}]


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    book = Ledger(":memory:")
    yield book
    book.close()


def router(config: Config, ledger: Ledger, phase: str = "spec", job: str = JOB) -> ModelRouter:
    return ModelRouter(config, ledger, repo=REPO, job=job, phase=phase)


def complete(models: ModelRouter, phase: str = "spec", messages: Any = MESSAGES, **kwargs: Any) -> ModelResult:
    return run_released(models.complete(phase, messages, **kwargs))


def small_windows(**windows: int) -> dict[str, list[dict[str, Any]]]:
    """TEST_MODELS with some windows shrunk, so a short prompt can overflow them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for profile, models in TEST_MODELS.items():
        out[profile] = [{**m, "max_input_tokens": windows.get(m["model"].split("/")[1], m["max_input_tokens"])} for m in models]
    return out


def test_first_model_answers_and_the_call_is_recorded_at_config_prices(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    llm.script("reason-a", Reply("a spec", prompt_tokens=1000, completion_tokens=500))
    result = complete(router(make_config(), ledger))
    assert (result.text, result.profile, result.model) == ("a spec", "high-reasoning", "openai/reason-a")
    assert result.reason == "phase spec -> high-reasoning (phases); first model of high-reasoning"
    assert (result.tokens_in, result.tokens_out) == (1000, 500)
    assert result.cost_usd == pytest.approx(1000 * 20e-6 + 500 * 80e-6)  # conftest prices: $20 / $80 per M
    [call] = ledger.calls(JOB)
    assert (call.outcome, call.model, call.profile, call.phase) == ("ok", "openai/reason-a", "high-reasoning", "spec")
    assert (call.tokens_in, call.tokens_out, call.cost_usd) == (1000, 500, pytest.approx(0.06))
    assert ledger.spend(REPO) == pytest.approx(0.06)
    assert llm.requests[0]["messages"][1]["content"] == "Design a cache."


@pytest.mark.parametrize(
    ("failure", "said"),
    [(Fail(500), "answered 500"), (Fail(429, retry_after=0), "answered 429 (rate limited)")],
)
def test_a_provider_error_falls_back_to_the_next_model_of_the_profile(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger, failure: Fail, said: str
) -> None:
    llm.script("reason-a", failure)
    llm.script("reason-b", Reply("from b", prompt_tokens=100, completion_tokens=10))
    result = complete(router(make_config(), ledger))
    assert result.model == "openai/reason-b" and result.text == "from b"
    assert f"fallback: openai/reason-a {said}" in result.reason
    assert llm.models_called() == ["reason-a", "reason-b"]
    failed, ok = ledger.calls(JOB)
    assert (failed.outcome, failed.model, failed.cost_usd, failed.tokens_in) == ("error", "openai/reason-a", 0, 0)
    assert said in (failed.error or "")
    assert (ok.outcome, ok.model) == ("ok", "openai/reason-b")
    assert ok.cost_usd == pytest.approx(100 * 0.55e-6 + 10 * 2.19e-6)


def test_a_model_that_hangs_times_out_and_the_next_answers(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    llm.script("reason-a", Hang(1.0))  # short: a pending hang would outlive the session
    result = complete(router(make_config(timeout=0.3), ledger))
    assert result.model == "openai/reason-b"
    assert "fallback: openai/reason-a timed out after 0.3 s" in result.reason
    assert [c.outcome for c in ledger.calls(JOB)] == ["error", "ok"]


def test_every_model_failing_raises_with_each_attempt(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    llm.script("reason-a", Fail(503))
    llm.script("reason-b", Fail(429, retry_after=0))
    with pytest.raises(AllModelsFailed) as caught:
        complete(router(make_config(), ledger))
    assert "openai/reason-a answered 503" in str(caught.value)
    assert "openai/reason-b answered 429" in str(caught.value)
    assert llm.models_called() == ["reason-a", "reason-b"]  # no escalation: it fitted, it failed
    assert [c.outcome for c in ledger.calls(JOB)] == ["error", "error"]


def test_a_prompt_bigger_than_every_window_of_the_profile_escalates_to_massive_context(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger
) -> None:
    config = make_config(small_windows(**{"fast-a": 300, "fast-b": 200}), limits={"output_reserve_tokens": 100})
    models = router(config, ledger, phase="implement")
    prompt = "word " * 1000  # about 1,000 tokens: over 300 - 100 reserve
    result = complete(models, "implement", [{"role": "user", "content": prompt}])
    assert (result.profile, result.model, result.escalated_from) == ("massive-context", "openai/wide-a", "high-throughput")
    assert "escalated from high-throughput" in result.reason
    assert "exceed every high-throughput window (largest 300)" in result.reason
    assert llm.models_called() == ["wide-a"]
    assert ledger.calls(JOB)[0].profile == "massive-context"


def test_a_fallback_never_goes_to_a_smaller_window(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    # reason-a (2,000) holds the prompt, reason-b (500) does not: when a fails, b is not tried
    config = make_config(small_windows(**{"reason-a": 2000, "reason-b": 500}), limits={"output_reserve_tokens": 100})
    llm.script("reason-a", Fail(500))
    with pytest.raises(AllModelsFailed) as caught:
        complete(router(config, ledger), messages=[{"role": "user", "content": "word " * 800}])
    assert llm.models_called() == ["reason-a"]
    assert "openai/reason-b: window 500" in str(caught.value)


def test_a_later_model_with_a_larger_window_serves_when_the_first_is_too_small(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger
) -> None:
    config = make_config(small_windows(**{"reason-a": 500, "reason-b": 2000}), limits={"output_reserve_tokens": 100})
    result = complete(router(config, ledger), messages=[{"role": "user", "content": "word " * 800}])
    assert result.model == "openai/reason-b"
    assert "skipped openai/reason-a: window 500 <" in result.reason
    assert llm.models_called() == ["reason-b"]


def test_no_model_fits_raises_and_calls_nothing(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    windows = {name: 200 for name in ("reason-a", "reason-b", "fast-a", "fast-b", "wide-a", "wide-b")}
    config = make_config(small_windows(**windows), limits={"output_reserve_tokens": 100})
    with pytest.raises(NoModelFits) as caught:
        complete(router(config, ledger), messages="word " * 1000)
    assert "openai/wide-a: window 200" in str(caught.value)
    assert llm.requests == [] and ledger.calls() == []


def test_monthly_budget_spent_raises_before_any_request(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    ledger.record_call(Call(REPO, "earlier-job", "review", "massive-context", "openai/wide-a", "r", 10, 10, 1.0, 1.0, "ok"))
    with pytest.raises(BudgetExceeded) as caught:
        complete(router(make_config(budgets={"monthly_usd": 1.0, "per_job_usd": 5.0}), ledger))
    assert "monthly budget of octo/widgets" in str(caught.value)
    assert "budgets.monthly_usd = $1.00" in str(caught.value) and "no model was called" in str(caught.value)
    assert llm.requests == []
    assert len(ledger.calls()) == 1  # nothing added


def test_another_repository_spending_does_not_count(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    ledger.record_call(Call("octo/other", "j", "review", "massive-context", "openai/wide-a", "r", 10, 10, 1.0, 1.0, "ok"))
    assert complete(router(make_config(budgets={"monthly_usd": 1.0}), ledger)).text == "ok"


@pytest.mark.parametrize("spent", [0.5, 0.0])
def test_per_job_cap_raises_before_any_request(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger, spent: float
) -> None:
    """Spent by earlier calls of the job, or by the estimate of this call's input alone."""
    if spent:
        ledger.record_call(Call(REPO, JOB, "spec", "high-reasoning", "openai/reason-a", "r", 10, 10, spent, 1.0, "ok"))
        cap = 0.5
    else:
        cap = 1e-9  # less than the input of this prompt at $20 per million
    with pytest.raises(BudgetExceeded) as caught:
        complete(router(make_config(budgets={"per_job_usd": cap}), ledger))
    assert "per-job cap reached" in str(caught.value) and "budgets.per_job_usd" in str(caught.value)
    assert llm.requests == []


def test_base_model_gives_a_custom_name_its_window_and_prices(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    custom = {"model": "openai/house-haiku", "base_model": "claude-haiku-4-5"}
    profiles = {**TEST_MODELS, "high-throughput": [custom]}
    config = make_config(profiles)
    spec = config.models("high-throughput")[0]
    assert catalog.window(spec) == 200_000
    assert catalog.prices(spec) == pytest.approx((1e-6, 5e-6))
    llm.script("house-haiku", Reply("done", prompt_tokens=1000, completion_tokens=200))
    result = complete(router(config, ledger, phase="implement"), "implement")
    assert result.model == "openai/house-haiku"
    assert result.cost_usd == pytest.approx(1000 * 1e-6 + 200 * 5e-6)
    assert ledger.calls(JOB)[0].cost_usd == pytest.approx(0.002)
    # an explicit price in the config wins over the base model's
    priced = make_config({**TEST_MODELS, "high-throughput": [{**custom, "input_cost_per_million": 2.0}]})
    assert catalog.prices(priced.models("high-throughput")[0]) == pytest.approx((2e-6, 5e-6))


def test_a_custom_name_without_window_or_prices_is_a_config_error(make_config: Callable[..., Config], ledger: Ledger) -> None:
    config = make_config({**TEST_MODELS, "high-throughput": [{"model": "openai/mystery"}]})
    with pytest.raises(catalog.UnknownModel, match="max_input_tokens, or base_model"):
        router(config, ledger, phase="implement").decide("implement")


class Pet(BaseModel):
    name: str
    legs: int


def test_structured_output_tolerates_prose_and_fences(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    llm.script("reason-a", 'Sure! Here it is:\n```json\n{"name": "Rex", "legs": 4}\n```\nAnything else?')
    result = complete(router(make_config(), ledger), response_model=Pet)
    assert result.data == Pet(name="Rex", legs=4)
    [body] = llm.requests
    assert "response_format" not in body  # litellm does not know openai/reason-a: fenced block
    assert '"legs"' in body["messages"][0]["content"] and "```json" in body["messages"][0]["content"]


def test_invalid_structured_output_gets_one_repair_request(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    llm.script("reason-a", Reply('```json\n{"name": "Rex"}\n```', prompt_tokens=50, completion_tokens=5),
               Reply('{"name": "Rex", "legs": 4}', prompt_tokens=80, completion_tokens=6))
    result = complete(router(make_config(), ledger), response_model=Pet)
    assert result.data == Pet(name="Rex", legs=4)
    assert (result.tokens_in, result.tokens_out) == (130, 11)
    repair = llm.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '```json\n{"name": "Rex"}\n```'}
    assert "legs: Field required" in repair[-1]["content"]
    assert "repair request" in result.reason
    assert [c.outcome for c in ledger.calls(JOB)] == ["ok", "ok"]


def test_output_still_invalid_after_the_repair_raises(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    llm.script("reason-a", "no json here", '{"name": 3}')
    with pytest.raises(InvalidOutput) as caught:
        complete(router(make_config(), ledger), response_model=Pet)
    assert "even after one repair request" in str(caught.value) and "legs: Field required" in str(caught.value)
    assert llm.models_called() == ["reason-a", "reason-a"]  # exactly one repair request
    assert "no JSON" in llm.prompts("reason-a")[1] or "not valid JSON" in llm.prompts("reason-a")[1]


def test_response_format_is_sent_when_litellm_says_the_model_supports_it(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    profiles = {**TEST_MODELS, "high-reasoning": [{**TEST_MODELS["high-reasoning"][0], "base_model": "gpt-4o"}]}
    llm.script("reason-a", json.dumps({"name": "Tom", "legs": 4}))
    result = complete(router(make_config(profiles), ledger), response_model=Pet)
    assert result.data == Pet(name="Tom", legs=4)
    schema = llm.requests[0]["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["schema"]["required"] == ["name", "legs"]


def test_a_routing_rule_by_label_picks_the_profile(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    config = make_config(routes=[
        {"when": {"phase": "implement", "labels_any": ["L2-exploratory"]}, "profile": "massive-context"},
        {"when": {"labels_any": ["L3-uncertain"]}, "profile": "high-reasoning"},
    ])
    models = router(config, ledger, phase="implement")
    result = complete(models, "implement", labels=["l2-exploratory"])
    assert (result.profile, result.model) == ("massive-context", "openai/wide-a")
    assert "rule 1: phase implement, label L2-exploratory" in result.reason
    assert models.decide("implement", labels=["L3-uncertain"]).profile == "high-reasoning"
    assert models.decide("implement").profile == "high-throughput"  # no label: the phases table


def test_decide_names_model_window_and_skips_without_calling(make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger) -> None:
    models = router(make_config(), ledger)
    decision = models.decide("implement", tokens=500_000)
    assert (decision.profile, decision.model.model, decision.window) == ("high-throughput", "openai/fast-a", 1_000_000)
    assert decision.skipped == ["openai/fast-b: window 200,000 < 516,000 needed"]
    escalated = models.decide("implement", tokens=1_010_000)
    assert (escalated.profile, escalated.model.model, escalated.escalated_from) == ("massive-context", "openai/wide-a", "high-throughput")
    assert models.window("massive-context") == 1_048_576
    assert models.decide("ask", profile="high-reasoning").reason == "profile high-reasoning requested; first model of high-reasoning"
    assert models.count_tokens("hello world") > 0
    assert llm.requests == []


def test_an_api_key_from_a_missing_environment_variable_skips_only_that_model(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REASON_A_KEY", raising=False)
    monkeypatch.setenv("REASON_B_KEY", "key-from-the-environment")
    reasoning = [{**TEST_MODELS["high-reasoning"][0], "api_key": "env:REASON_A_KEY"},
                 {**TEST_MODELS["high-reasoning"][1], "api_key": "env:REASON_B_KEY"}]
    config = make_config({**TEST_MODELS, "high-reasoning": reasoning})
    result = complete(router(config, ledger))
    assert result.model == "openai/reason-b"
    assert "fallback: openai/reason-a not called: model 'openai/reason-a': api_key = 'env:REASON_A_KEY', but REASON_A_KEY is not set" in result.reason
    assert llm.models_called() == ["reason-b"]


def test_the_same_large_text_is_counted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review prompt is counted when assembled and again before the call: the second count of
    the very same string is remembered; an equal but distinct string is counted anew."""
    from bot.llm import catalog

    text = "".join(f"line {i}: value = compute({i})\n" for i in range(40_000))
    assert len(text) >= catalog.PARALLEL_CHARS
    first = catalog.count_tokens(text, "openai/wide-a")

    def refuse(text: str, model: str) -> int | None:
        raise AssertionError("counted again")

    monkeypatch.setattr(catalog, "_count_large", refuse)
    assert catalog.count_tokens([{"role": "user", "content": text}], "openai/wide-a") >= first
    assert catalog.count_tokens(text, "openai/wide-a") == first
    copy = "".join([text[:10], text[10:]])
    assert copy == text and copy is not text
    with pytest.raises(AssertionError, match="counted again"):
        catalog.count_tokens(copy, "openai/wide-a")
