"""What the bot knows about a model: its window, its prices, how to count its tokens.

The facts come from litellm's bundled model map (``litellm.model_cost``), never from the network:
``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set before litellm is first imported. litellm is imported
here lazily, on first use, because importing it costs seconds and most events need no model.

For a custom endpoint (``openai/any-name`` on the operator's own ``api_base``) the map knows
nothing; ``base_model`` names a map entry to borrow the window and prices from, and explicit
``max_input_tokens`` / ``*_cost_per_million`` in the config win over both.
"""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from bot.config import ConfigError, ModelSpec

PER_MILLION = 1_000_000


class UnknownModel(ConfigError):
    """The map does not know the model and the config does not say: the window or prices are
    unknown, so neither the window check nor the budget can be enforced."""


def litellm_module() -> ModuleType:
    """litellm, imported on first use with the bundled (offline) model map."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: it reads it then
    import litellm

    litellm.suppress_debug_info = True
    return litellm


async def release_litellm() -> None:
    """Before the running event loop closes: stop litellm's background logging worker and close
    the HTTP clients it cached for the providers. Both belong to the loop of the calls; left
    behind, they are collected with the closed loop, their connections unclosed (and the
    worker's coroutine never finished). The cache is emptied, so a later loop (the next Action
    run's, a test's) builds its own clients. A no-op when litellm was never loaded."""
    if "litellm" not in sys.modules:
        return
    litellm = litellm_module()
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

    # the worker of another, closed loop cannot be stopped from this one (litellm rebinds it to
    # the next loop that logs); only this loop's is ours to stop
    if getattr(GLOBAL_LOGGING_WORKER, "_bound_loop", None) is asyncio.get_running_loop():
        await GLOBAL_LOGGING_WORKER.stop(timeout=5.0)
    await close_litellm_async_clients()  # type: ignore[no-untyped-call]
    litellm.in_memory_llm_clients_cache.flush_cache()


def map_entry(name: str) -> dict[str, Any] | None:
    """The model map's entry for a litellm model name, None when it has none.

    An exact key first; else litellm's own lookup, which knows that ``anthropic/claude-sonnet-4-6``
    is keyed ``claude-sonnet-4-6`` and ``bedrock/...`` is a ``bedrock_converse`` entry, and which
    refuses ``openai/any-name`` rather than borrow an unrelated entry.
    """
    litellm = litellm_module()
    cost: dict[str, dict[str, Any]] = litellm.model_cost
    if name in cost:
        return cost[name]
    try:
        return dict(litellm.get_model_info(name))
    except Exception:  # noqa: BLE001 - litellm raises a plain Exception for names it has not mapped
        return None


def _entry(spec: ModelSpec) -> dict[str, Any]:
    return map_entry(spec.base_model or spec.model) or {}


def window(spec: ModelSpec) -> int:
    """How many input tokens the model takes: config, else the map (``base_model`` first)."""
    if spec.max_input_tokens:
        return spec.max_input_tokens
    found = _entry(spec).get("max_input_tokens")  # not "max_tokens": in older entries, the output cap
    if not found:
        raise UnknownModel(
            f"model {spec.model!r}: litellm's model map gives no input window; set "
            "max_input_tokens, or base_model to a model the map knows"
        )
    return int(found)


def prices(spec: ModelSpec) -> tuple[float, float]:
    """USD per input token and per output token: config, else the map (``base_model`` first)."""
    entry = _entry(spec)
    found: list[float] = []
    for side, configured in (("input", spec.input_cost_per_million), ("output", spec.output_cost_per_million)):
        if configured is not None:
            found.append(configured / PER_MILLION)
        elif entry.get(f"{side}_cost_per_token") is not None:
            found.append(float(entry[f"{side}_cost_per_token"]))
        else:
            raise UnknownModel(
                f"model {spec.model!r}: litellm's model map gives no {side} price; set "
                f"{side}_cost_per_million (0 for a free local model), or base_model"
            )
    return found[0], found[1]


def cached_price(spec: ModelSpec) -> float:
    """USD per prompt token read from the provider's cache: config, else the map's
    ``cache_read_input_token_cost`` (``base_model`` first), else the full input price (a
    provider whose price for cached tokens is not known gets no discount)."""
    if spec.cache_read_cost_per_million is not None:
        return spec.cache_read_cost_per_million / PER_MILLION
    found = _entry(spec).get("cache_read_input_token_cost")
    return float(found) if found is not None else prices(spec)[0]


def cost(spec: ModelSpec, tokens_in: int, tokens_out: int, tokens_cached: int = 0) -> float:
    """The USD cost of a call; ``tokens_cached`` of ``tokens_in`` were read from the provider's
    prompt cache and cost its cached rate. Computed here rather than with
    ``litellm.completion_cost``, which fails for custom names and ignores the config's prices."""
    usd_in, usd_out = prices(spec)
    cached = max(0, min(tokens_cached, tokens_in))
    return (tokens_in - cached) * usd_in + tokens_out * usd_out + (cached * cached_price(spec) if cached else 0.0)


def supports_prompt_caching(spec: ModelSpec) -> bool:
    """Whether a ``cache_control`` breakpoint should be sent to the model: the config names its
    cached price, or litellm says the model (``base_model`` first) caches prompt prefixes."""
    if spec.cache_read_cost_per_million is not None:
        return True
    name = spec.base_model or spec.model
    if map_entry(name) is None:
        return False  # unknown custom endpoint: a field it may refuse is not sent
    try:
        from litellm.utils import supports_prompt_caching as litellm_says

        litellm_module()
        return bool(litellm_says(model=name))
    except Exception:  # noqa: BLE001 - litellm raises for names it cannot map to a provider
        return False


def supports_response_schema(spec: ModelSpec) -> bool:
    """Whether litellm says the model takes ``response_format`` with a JSON Schema."""
    name = spec.base_model or spec.model
    if map_entry(name) is None:
        return False  # unknown custom endpoint: do not bet on it; ask for a fenced block
    try:
        return bool(litellm_module().supports_response_schema(model=name))
    except Exception:  # noqa: BLE001 - litellm raises for names it cannot map to a provider
        return False


PARALLEL_CHARS = 1_000_000  # from this size a text is counted on two threads (the tokenizer lets go of the GIL)
COUNT_THREADS = 2


def count_tokens(text_or_messages: str | list[dict[str, Any]], model: str) -> int:
    """Prompt tokens as litellm counts them for ``model`` (its tokenizer, or tiktoken's default
    for names it does not know; the tokenizers ship with litellm, so this works offline).

    A review prompt is megabytes long; litellm counts it on one thread. For tiktoken-counted
    models a large text is counted here on two, by litellm's own rule (exact in its fixed-size
    pieces up to its limit, else extrapolated from its evenly spaced samples), so the number
    is the one ``litellm.token_counter`` gives, only sooner. A message whose content is a list
    of text blocks (a prompt with cache breakpoints) counts as its blocks' texts."""
    litellm = litellm_module()
    if isinstance(text_or_messages, str):
        fast = _parallel_count(text_or_messages, model)
        return fast if fast is not None else int(litellm.token_counter(model=model, text=text_or_messages))
    # litellm adds each string's count to the message overhead: count the rest with the big
    # contents (and every block of a list) emptied (an empty text counts 0), then add theirs
    counted = 0
    rest: list[dict[str, Any]] = []
    for m in text_or_messages:
        content = m.get("content")
        if isinstance(content, list):
            counted += sum(count_tokens(str(b.get("text", "")), model) for b in content if isinstance(b, dict))
            rest.append({k: v for k, v in m.items() if k != "cache_control"} | {"content": ""})
        elif isinstance(content, str) and (big := _parallel_count(content, model)) is not None:
            counted += big
            rest.append({**m, "content": ""})
        else:
            rest.append(m)
    return int(litellm.token_counter(model=model, messages=rest)) + counted


def flat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message whose content is a list of text blocks (a prompt with cache breakpoints) with
    that content as one string: what is counted, and what a model without prompt caching is
    sent (the text is the same; only the breakpoints go)."""
    content = message.get("content")
    if not isinstance(content, list) and "cache_control" not in message:
        return message
    flat = {k: v for k, v in message.items() if k != "cache_control"}
    if isinstance(content, list):
        flat["content"] = "".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return flat


# The last large text counted, kept (a strong reference: a string's id alone could be reused)
# so that counting the very same prompt again is free: a review prompt is counted when it is
# assembled and again by the router before the call, about 0.4 s each for 30 MB.
_REMEMBERED: list[tuple[str, str, int]] = []


def _parallel_count(text: str, model: str) -> int | None:
    """litellm's count of a large text for a tiktoken-counted model, on ``COUNT_THREADS``
    threads; None when the text is small or the model counts otherwise (litellm does it then)."""
    if len(text) < PARALLEL_CHARS:
        return None
    for seen, name, tokens in _REMEMBERED:
        if seen is text and name == model:  # the same immutable object: the same count
            return tokens
    counted = _count_large(text, model)
    if counted is not None:
        _REMEMBERED[:] = [(text, model, counted)]
    return counted


def _count_large(text: str, model: str) -> int | None:
    try:
        from litellm.constants import TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS, TOKEN_COUNTER_MAX_EXACT_CHARS
        from litellm.litellm_core_utils import token_counter as tc
        from litellm.utils import select_tokenizer

        if select_tokenizer(model)["type"] != "openai_tokenizer":
            return None
        exact = tc._get_exact_count_function(model)
        if len(text) <= TOKEN_COUNTER_MAX_EXACT_CHARS:  # exact: cut where litellm's pieces end
            step = -(-len(text) // COUNT_THREADS // TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS) * TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS
            parts = [text[i : i + step] for i in range(0, len(text), step)]
            with ThreadPoolExecutor(COUNT_THREADS) as pool:
                return sum(pool.map(exact, parts))
        samples = tc._evenly_spaced_samples(text, TOKEN_COUNTER_MAX_EXACT_CHARS)
        with ThreadPoolExecutor(COUNT_THREADS) as pool:
            sampled = sum(pool.map(exact, samples))
        return round(sampled * len(text) / sum(len(s) for s in samples))
    except (ImportError, AttributeError, KeyError, TypeError):  # another litellm: let it count
        return None


def api_key(spec: ModelSpec, env: dict[str, str] | None = None) -> str | None:
    """The model's API key: literal, or ``env:NAME`` read now (None lets litellm use its own
    provider variables, e.g. ``ANTHROPIC_API_KEY``)."""
    key = spec.api_key
    if key is None or not key.startswith("env:"):
        return key
    source = os.environ if env is None else env
    name = key[4:]
    if not source.get(name):
        raise ConfigError(f"model {spec.model!r}: api_key = 'env:{name}', but {name} is not set")
    return source[name]


def describe(spec: ModelSpec) -> str:
    """One line for people: ``o3-pro (window 200,000 tokens; $20.00 in / $80.00 out per million)``."""
    try:
        usd_in, usd_out = prices(spec)
        return (f"{spec.model} (window {window(spec):,} tokens; ${usd_in * PER_MILLION:.2f} in / "
                f"${usd_out * PER_MILLION:.2f} out per million)")
    except UnknownModel as exc:
        return f"{spec.model} (unusable: {exc})"
