"""The fake LLM's prompt caching, driven through the real litellm (``openai/<name>`` on the fake's
api_base), as the bot reaches it.

What litellm 1.110.2 sends to an OpenAI-compatible endpoint: the messages as given, with an
Anthropic-style ``cache_control`` left in place on the content block (or on the message) that
carries it. What comes back: ``usage.prompt_tokens_details.cached_tokens`` on litellm's Usage, and
the Anthropic spelling ``usage.cache_read_input_tokens`` as well.
"""

from __future__ import annotations

import time
from typing import Any

import litellm
import pytest

from tests.fakes.llm import Fail, FakeLLM, Reply
from tests.litellm_loop import run_released

MARK = {"type": "ephemeral"}
BIG = "abcd" * 3000  # 3,000 tokens by the fake's count (4 characters each)


def ask(llm: FakeLLM, messages: list[dict[str, Any]], model: str = "openai/wide-a",
        **kwargs: Any) -> Any:
    async def call() -> Any:
        return await litellm.acompletion(model=model, api_base=llm.url, api_key="test-key",
                                         messages=messages, num_retries=0, **kwargs)

    return run_released(call())


def cached(response: Any) -> int | None:
    details = response.usage.prompt_tokens_details
    return None if details is None else details.cached_tokens


def marked(system: str, user: str) -> list[dict[str, Any]]:
    """A long system prompt with a cache breakpoint, then the question."""
    return [
        {"role": "system", "content": [{"type": "text", "text": system, "cache_control": MARK}]},
        {"role": "user", "content": user},
    ]


def test_litellm_passes_cache_control_through_to_an_openai_endpoint(llm: FakeLLM) -> None:
    ask(llm, [
        {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": MARK},
                                       {"type": "text", "text": "more"}]},
        {"role": "user", "content": "hi", "cache_control": MARK},
    ])
    sent = llm.requests[-1]
    assert sent["model"] == "wide-a"
    assert sent["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": MARK},
                                       {"type": "text", "text": "more"}]},
        {"role": "user", "content": "hi", "cache_control": MARK},
    ]


def test_second_request_with_the_same_prefix_hits(llm: FakeLLM) -> None:
    first = ask(llm, marked(BIG, "question one"))
    second = ask(llm, marked(BIG, "question two"))
    assert cached(first) == 0  # eligible, nothing cached yet: reported as 0
    # 3 header tokens + 3,000 of system prompt, rounded down to whole 1,024-token blocks
    assert cached(second) == 2048
    assert second.usage.prompt_tokens == first.usage.prompt_tokens > 3000  # still the whole prompt
    assert second.usage.cache_read_input_tokens == 2048  # the Anthropic spelling
    assert second.usage._cache_read_input_tokens == 2048


def test_misses(llm: FakeLLM) -> None:
    ask(llm, marked(BIG, "q"))
    assert cached(ask(llm, marked(BIG, "q"), model="openai/wide-b")) == 0  # per model
    assert cached(ask(llm, marked("z" + BIG, "q"))) == 0  # differs at the start
    llm.clear_cache()
    assert cached(ask(llm, marked(BIG, "q"))) == 0
    assert cached(ask(llm, marked(BIG, "q"))) == 2048
    llm.clear_cache("openai/wide-a")
    assert cached(ask(llm, marked(BIG, "q"))) == 0


def test_unmarked_request_reports_no_cache(llm: FakeLLM) -> None:
    plain = [{"role": "system", "content": BIG}, {"role": "user", "content": "q"}]
    ask(llm, plain)
    response = ask(llm, plain)
    assert cached(response) is None
    assert "cache_read_input_tokens" not in response.usage.model_dump()


def test_time_to_live(llm: FakeLLM) -> None:
    llm.set_cache(ttl=0.2)
    ask(llm, marked(BIG, "q"))
    assert cached(ask(llm, marked(BIG, "q"))) == 2048
    time.sleep(0.5)
    assert cached(ask(llm, marked(BIG, "q"))) == 0


def test_rounded_down_to_whole_blocks(llm: FakeLLM) -> None:
    system = "abcd" * 1000  # with the 3 header tokens: 1,003 tokens, short of one block
    ask(llm, marked(system, "q"))
    assert cached(ask(llm, marked(system, "q"))) == 0
    llm.set_cache(block=128)
    assert cached(ask(llm, marked(system, "q"))) == 896  # 7 x 128 <= 1,003
    llm.set_cache(block=1)
    assert cached(ask(llm, marked(system, "q"))) == 1003


def test_prefix_stops_at_the_last_breakpoint(llm: FakeLLM) -> None:
    llm.set_cache(block=100)
    # identical well past the breakpoint: the shared user text is not counted
    messages = [
        {"role": "system", "content": [
            {"type": "text", "text": "abcd" * 500, "cache_control": MARK},
            {"type": "text", "text": "efgh" * 2000},
        ]},
        {"role": "user", "content": "same question"},
    ]
    ask(llm, messages)
    assert cached(ask(llm, messages)) == 500  # 503 tokens up to the breakpoint, in blocks of 100
    # a later breakpoint (on the message) moves the limit, but only for prefixes written with it
    messages[1]["cache_control"] = MARK
    later = ask(llm, messages)
    assert cached(later) == 500  # the cache holds only the first 503 so far
    assert cached(ask(llm, messages)) == 2500  # 3 + 500 + 2,000 + 3 + 4 tokens, now written


def test_auto_cache_without_markers(llm: FakeLLM) -> None:
    llm.auto_cache("openai/wide-a")
    plain = [{"role": "system", "content": BIG}, {"role": "user", "content": "q"}]
    assert cached(ask(llm, plain)) == 0
    assert cached(ask(llm, plain)) == 2048
    assert cached(ask(llm, plain, model="openai/wide-b")) is None  # not switched on there
    llm.auto_cache("wide-a", on=False)
    assert cached(ask(llm, plain)) is None


def test_streamed_usage_carries_the_cached_tokens(llm: FakeLLM) -> None:
    async def stream() -> list[Any]:
        response = await litellm.acompletion(
            model="openai/wide-a", api_base=llm.url, api_key="test-key", messages=marked(BIG, "q"),
            stream=True, stream_options={"include_usage": True}, num_retries=0)
        return [chunk async for chunk in response]

    ask(llm, marked(BIG, "q"))
    chunks = run_released(stream())
    usage = litellm.stream_chunk_builder(chunks, messages=marked(BIG, "q")).usage
    assert usage.prompt_tokens_details.cached_tokens == 2048


def test_failed_request_writes_nothing_and_scripts_can_override(llm: FakeLLM) -> None:
    llm.script("wide-a", Fail(500))
    with pytest.raises(litellm.exceptions.InternalServerError):
        ask(llm, marked(BIG, "q"))
    assert cached(ask(llm, marked(BIG, "q"))) == 0  # the failure wrote nothing
    llm.script("wide-a", Reply("ok", cached_tokens=7))
    assert cached(ask(llm, marked(BIG, "q"))) == 7  # scripted
    assert cached(ask(llm, marked(BIG, "q"))) == 2048
