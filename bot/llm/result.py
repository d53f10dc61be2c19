"""What a model call gives back (``ModelResult``) and what routing decides without a call
(``Decision``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.config import ModelSpec

D = TypeVar("D")


@dataclass(frozen=True)
class ModelResult(Generic[D]):
    """One answered call (with its repair request, if one was needed): the text, the validated
    data when a response model was asked for (``None`` otherwise), and what it cost."""

    text: str
    data: D
    phase: str
    profile: str
    model: str
    reason: str  # why this model, in words (shown in footers)
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    escalated_from: str | None = None  # profile it escalated from, if any
    tokens_cached: int = 0  # of tokens_in, read from the provider's prompt cache (cheaper)


@dataclass(frozen=True)
class Decision:
    """What ``decide`` returns; no model is called."""

    phase: str
    profile: str
    model: ModelSpec
    reason: str
    window: int
    tokens: int
    skipped: list[str]  # "model: why" for models passed over
    escalated_from: str | None = None
