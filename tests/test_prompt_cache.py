"""Prompt caching through the model router: breakpoints only to models that cache, cached tokens
read from litellm's usage, recorded in the ledger and priced at the cached rate, shown in the
footer. The fake LLM reports cached tokens as providers do (tests/test_fake_llm_cache.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.llm import catalog
from bot.llm.footer import footer
from bot.llm.model_router import ModelRouter
from bot.store.ledger import Ledger
from tests.conftest import TEST_MODELS
from tests.fakes.llm import FakeLLM, Reply
from tests.litellm_loop import run_released

REPO = "octo/widgets"
MARK = {"type": "ephemeral"}
STABLE = "abcd" * 3000  # 3,000 tokens by the fake's count


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    book = Ledger(":memory:")
    yield book
    book.close()


def messages(question: str) -> list[dict[str, Any]]:
    """As a review prompt is shaped: the cached part in a message of its own, then the rest."""
    return [{"role": "system", "content": "You review."},
            {"role": "user", "content": [{"type": "text", "text": STABLE, "cache_control": MARK}]},
            {"role": "user", "content": question}]


def caching(make_config: Callable[..., Config], **extra: Any) -> Config:
    wide = [{**TEST_MODELS["massive-context"][0], "cache_read_cost_per_million": 0.2, **extra},
            TEST_MODELS["massive-context"][1]]
    return make_config({**TEST_MODELS, "massive-context": wide})


def ask(config: Config, ledger: Ledger, question: str, job: str = "d:review:#1") -> Any:
    models = ModelRouter(config, ledger, repo=REPO, job=job, phase="review")
    return run_released(models.complete("review", messages(question)))


def test_a_repeated_prefix_is_read_from_the_cache_recorded_and_priced_at_the_cached_rate(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger
) -> None:
    config = caching(make_config)
    llm.default("wide-a", "fine")
    first = ask(config, ledger, "question one", job="d1:review:#1")
    second = ask(config, ledger, "question two", job="d2:review:#1")

    assert llm.requests[1]["messages"][1]["content"][0] == {"type": "text", "text": STABLE, "cache_control": MARK}
    assert (first.tokens_cached, second.tokens_cached) == (0, 2048)  # whole 1,024-token blocks
    [one] = ledger.calls("d1:review:#1")
    [two] = ledger.calls("d2:review:#1")
    assert (one.tokens_cached, two.tokens_cached) == (0, 2048)
    assert two.tokens_in == first.tokens_in  # the whole prompt, cached part included
    assert two.cost_usd == pytest.approx(((two.tokens_in - 2048) * 2.0 + 2048 * 0.2 + two.tokens_out * 12.0) / 1e6)
    assert second.cost_usd == pytest.approx(two.cost_usd) and second.cost_usd < first.cost_usd
    assert f"{second.tokens_in:,} tokens in (2,048 cached) / " in footer([second])
    assert "cached" not in footer([first])


def test_a_model_that_does_not_cache_gets_the_same_text_without_breakpoints(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger
) -> None:
    config = make_config()  # the test models name no cached price, and the map does not know them
    assert not catalog.supports_prompt_caching(config.models("massive-context")[0])
    llm.default("wide-a", "fine")
    ask(config, ledger, "q")
    result = ask(config, ledger, "q")

    sent = llm.requests[1]["messages"]
    assert sent[1:] == [{"role": "user", "content": STABLE + "q"}]  # one message, one string, no cache_control
    assert result.tokens_cached == 0 and "cached" not in footer([result])


def test_a_scripted_anthropic_style_count_is_read_too(
    make_config: Callable[..., Config], llm: FakeLLM, ledger: Ledger
) -> None:
    llm.script("wide-a", Reply("fine", prompt_tokens=10_000, completion_tokens=10, cached_tokens=8_192))
    result = ask(caching(make_config), ledger, "q")
    assert (result.tokens_in, result.tokens_cached) == (10_000, 8_192)
    assert result.cost_usd == pytest.approx((1_808 * 2.0 + 8_192 * 0.2 + 10 * 12.0) / 1e6)


def test_the_model_map_says_who_caches_and_at_what_price(make_config: Callable[..., Config]) -> None:
    config = make_config({**TEST_MODELS, "massive-context": [
        {"model": "openai/house-gemini", "base_model": "gemini/gemini-3.1-pro-preview"},
        {"model": "openai/house-llama", "base_model": "vertex_ai/meta/llama-4-scout-17b-16e-instruct-maas"}]})
    gemini, llama = config.models("massive-context")
    assert catalog.supports_prompt_caching(gemini) and not catalog.supports_prompt_caching(llama)
    assert catalog.cached_price(gemini) == pytest.approx(2e-7)  # cache_read_input_token_cost
    assert catalog.cached_price(llama) == catalog.prices(llama)[0]  # no cached rate: no discount
    assert catalog.cost(gemini, 1_000_000, 0, 900_000) == pytest.approx(0.1 * 2.0 + 0.9 * 0.2)


def test_a_ledger_written_before_cached_tokens_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE calls (id INTEGER PRIMARY KEY, at REAL NOT NULL, repo TEXT NOT NULL, job TEXT NOT NULL,"
            " phase TEXT NOT NULL, profile TEXT NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL,"
            " tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL"
            " DEFAULT 0, latency_s REAL NOT NULL DEFAULT 0, outcome TEXT NOT NULL, error TEXT);"
            "INSERT INTO calls (at, repo, job, phase, profile, model, reason, tokens_in, outcome)"
            " VALUES (1, 'o/r', 'j', 'review', 'p', 'm', 'why', 5, 'ok');")
    ledger = Ledger(path)
    try:
        [old] = ledger.calls()
        assert (old.tokens_in, old.tokens_cached) == (5, 0)
    finally:
        ledger.close()
