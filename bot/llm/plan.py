"""Which profile and which models serve a call, and why: the routing rules of DESIGN.md
("Capability profiles") as pure functions of the config and the prompt size. No model is called.

1. a routing rule (``config.routes``, first match) or else ``config.phases`` picks the profile;
   a slash command may name the profile instead;
2. models whose window cannot hold prompt + output reserve are skipped; when no model of the
   profile fits, the call escalates to ``massive-context``; nothing ever goes to a smaller window.

The reasons are written for people: they end up in comment footers and ``model-routing route``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import DEFAULT_PHASES, PHASES, Config, ModelSpec, RouteWhen
from bot.llm import catalog

ESCALATION_PROFILE = "massive-context"


@dataclass(frozen=True)
class Candidate:
    """A model that can hold the prompt, with where it sits in the config."""

    profile: str
    index: int  # position in the profile: 0 is the first choice
    spec: ModelSpec
    window: int

    @property
    def group(self) -> str:
        """Its model group in the litellm Router (one group per configured model)."""
        return f"{self.profile}#{self.index}"


@dataclass(frozen=True)
class Plan:
    phase: str
    profile: str  # the profile that serves the call (after any escalation)
    routed: str  # the profile the rules or phases chose
    why: str  # how the routed profile was chosen
    tokens: int
    reserve: int
    candidates: tuple[Candidate, ...]  # in order of preference; empty: nothing fits
    skipped: tuple[str, ...]  # "model: why" for every model passed over
    passed: tuple[str, ...] = ()  # those of the serving profile ahead of the first candidate
    escalated_from: str | None = None
    escalation: str = ""  # why it escalated, in words

    @property
    def reason(self) -> str:
        """Why the first candidate: the routing, the escalation and the models passed over."""
        parts = [self.why]
        if self.escalation:
            parts.append(self.escalation)
        if self.candidates:
            first = self.candidates[0]
            parts.append(f"skipped {'; '.join(self.passed)}" if self.passed else f"first model of {first.profile}")
        return "; ".join(parts)

    def no_fit(self) -> str:
        """Why nothing can take the prompt (for NoModelFits)."""
        return (
            f"no configured model can take {self.tokens:,} tokens + {self.reserve:,} reserved for "
            f"the reply ({self.escalation or self.why}); " + "; ".join(self.skipped)
        )


def describe_when(when: RouteWhen) -> str:
    parts = []
    if when.phase:
        parts.append(f"phase {when.phase}")
    if when.labels_any:
        parts.append("label " + " or ".join(when.labels_any))
    if when.min_tokens is not None:
        parts.append(f"at least {when.min_tokens:,} tokens")
    return ", ".join(parts) or "always"


def _matches(when: RouteWhen, phase: str, labels: Iterable[str], tokens: int) -> bool:
    if when.phase and when.phase != phase:
        return False
    wanted = {label.casefold() for label in when.labels_any}
    if wanted and not wanted & {label.casefold() for label in labels}:
        return False
    return when.min_tokens is None or tokens >= when.min_tokens


def route_profile(
    config: Config, phase: str, *, labels: Iterable[str] = (), tokens: int = 0,
    profile: str | None = None, reason: str | None = None,
) -> tuple[str, str]:
    """The profile for a phase, and how it was chosen."""
    if phase not in PHASES and profile is None:
        raise ValueError(f"unknown phase {phase!r}; allowed: {', '.join(PHASES)}")
    if profile is not None:
        if profile not in config.profiles:
            raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(config.profiles)}")
        return profile, reason or f"profile {profile} requested"
    chosen, why = _routed(config, phase, list(labels), tokens)
    return chosen, f"{why}; {reason}" if reason else why


def _routed(config: Config, phase: str, labels: list[str], tokens: int) -> tuple[str, str]:
    for number, rule in enumerate(config.routes, 1):
        if _matches(rule.when, phase, labels, tokens):
            return rule.profile, f"phase {phase} -> {rule.profile} (rule {number}: {describe_when(rule.when)})"
    if phase in config.phases:
        return config.phases[phase], f"phase {phase} -> {config.phases[phase]} (phases)"
    chosen = DEFAULT_PHASES[phase]  # type: ignore[index]
    return chosen, f"phase {phase} -> {chosen} (built-in default)"


def fit(config: Config, profile: str, tokens: int) -> tuple[list[Candidate], list[str]]:
    """The profile's models that can hold the prompt plus the output reserve, in order."""
    need = tokens + config.limits.output_reserve_tokens
    fitting: list[Candidate] = []
    skipped: list[str] = []
    for index, spec in enumerate(config.models(profile)):  # type: ignore[arg-type]
        size = catalog.window(spec)
        if size >= need:
            fitting.append(Candidate(profile, index, spec, size))
        else:
            skipped.append(f"{spec.model}: window {size:,} < {need:,} needed")
    return fitting, skipped


def largest_window(config: Config, profile: str) -> int:
    return max(catalog.window(spec) for spec in config.models(profile))  # type: ignore[arg-type]


def plan(
    config: Config, phase: str, *, tokens: int = 0, labels: Iterable[str] = (),
    profile: str | None = None, reason: str | None = None,
) -> Plan:
    routed, why = route_profile(config, phase, labels=labels, tokens=tokens, profile=profile, reason=reason)
    reserve = config.limits.output_reserve_tokens
    fitting, skipped = fit(config, routed, tokens)
    if fitting or routed == ESCALATION_PROFILE:
        # fit() skips in order, so the models ahead of the first candidate are the first skips
        ahead = tuple(skipped[: fitting[0].index]) if fitting else ()
        return Plan(phase, routed, routed, why, tokens, reserve, tuple(fitting), tuple(skipped), ahead)
    escalation = (
        f"escalated from {routed}: {tokens:,} tokens + {reserve:,} reserved for the reply exceed "
        f"every {routed} window (largest {largest_window(config, routed):,})"
    )
    wide, wide_skipped = fit(config, ESCALATION_PROFILE, tokens)
    ahead = tuple(wide_skipped[: wide[0].index]) if wide else ()
    return Plan(phase, ESCALATION_PROFILE, routed, why, tokens, reserve, tuple(wide),
                tuple(skipped + wide_skipped), ahead, escalated_from=routed, escalation=escalation)
