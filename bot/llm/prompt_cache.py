"""Prompt caching at the provider's edge: what a model is sent (cache breakpoints only where
the model caches prompt prefixes) and how many prompt tokens it says it read from its cache.
Which models cache, and at what price, is the catalog's (``bot.llm.catalog``)."""

from __future__ import annotations

from typing import Any

from bot.config import ModelSpec
from bot.llm import catalog

Messages = list[dict[str, Any]]


def for_model(messages: Messages, spec: ModelSpec) -> Messages:
    """The messages as this model is sent them: cache breakpoints (``cache_control`` on a
    content block, as litellm carries them to Anthropic and Gemini) only to a model that caches
    prompt prefixes; any other gets the same text without them, and consecutive messages of one
    role (a cached part and the rest) as one, since some chat templates insist that user and
    assistant alternate."""
    if not any(isinstance(m.get("content"), list) or "cache_control" in m for m in messages):
        return messages
    if catalog.supports_prompt_caching(spec):
        return messages
    out: Messages = []
    for message in map(catalog.flat_message, messages):
        last = out[-1] if out else None
        if last is not None and last.get("role") == message.get("role") and set(last) == set(message) == {"role", "content"}:
            out[-1] = {"role": last["role"], "content": f"{last['content']}{message['content']}"}
        else:
            out.append(message)
    return out


def cached_tokens(usage: Any) -> int:
    """The prompt tokens a provider read from its cache, as litellm reports them: OpenAI's
    ``prompt_tokens_details.cached_tokens`` or Anthropic's ``cache_read_input_tokens``."""
    details = getattr(usage, "prompt_tokens_details", None)
    found = getattr(details, "cached_tokens", None) if details is not None else None
    if not found:
        found = getattr(usage, "cache_read_input_tokens", None) or getattr(usage, "_cache_read_input_tokens", None)
    return int(found or 0)
