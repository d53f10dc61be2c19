"""Operator and repository configuration: schema, defaults, loading and merging.

The operator config (``MODEL_ROUTING_CONFIG``) owns the models, keys and API bases. A repository
config (``.github/model-routing.yml`` on the default branch) may only choose among what the
operator listed, and set triggers, thresholds, budgets and deny paths.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Profile = Literal["high-reasoning", "high-throughput", "massive-context"]
Phase = Literal["spec", "implement", "review", "ask", "debug", "security"]
PROFILES: tuple[Profile, ...] = ("high-reasoning", "high-throughput", "massive-context")
PHASES: tuple[Phase, ...] = ("spec", "implement", "review", "ask", "debug", "security")
ReviewAction = Literal["opened", "ready_for_review", "synchronize"]
REVIEW_ACTIONS: tuple[ReviewAction, ...] = ("opened", "ready_for_review", "synchronize")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    """One model of a profile: a litellm model name plus optional litellm params and prices."""

    model: str
    api_base: str | None = None
    api_key: str | None = None  # literal key, or "env:NAME" to read it from the environment
    base_model: str | None = None  # litellm map entry for prices/window of a custom name
    max_input_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    input_cost_per_million: float | None = Field(default=None, ge=0)
    output_cost_per_million: float | None = Field(default=None, ge=0)
    # USD per million prompt tokens read from the provider's prompt cache; unset: litellm's map
    # (``cache_read_input_token_cost``). Setting it also says the model caches prompt prefixes.
    cache_read_cost_per_million: float | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    extra: dict[str, Any] = Field(default_factory=dict)  # passed to litellm as is


class RouteWhen(Strict):
    phase: Phase | None = None
    labels_any: list[str] = Field(default_factory=list)
    min_tokens: int | None = Field(default=None, ge=0)


class RouteRule(Strict):
    when: RouteWhen
    profile: Profile


class LargePR(Strict):
    """A pull request is "large" when it reaches either threshold: about where a reviewer with a
    200k-token window starts to drop files (see README, "Review")."""

    lines: int = Field(default=1000, ge=0)
    files: int = Field(default=30, ge=0)


# Paths whose change gets a security review of its own (``handlers/security.py``). Globs, matched
# case-insensitively against the whole path; ``*`` crosses folders and a pattern without "/" also
# matches a file name at any depth (``bot.answers.edit_guards.matching``). Broad on purpose: a
# security review that finds nothing costs one reasoning call, a missed one costs more.
DEFAULT_SECURITY_PATHS: tuple[str, ...] = (
    # CI and its supply chain: workflows and actions run with the repository's secrets
    ".github/workflows/**", ".github/actions/**", "action.yml", "action.yaml",
    # containers
    "Dockerfile*", "*.dockerfile", "docker-compose*", "compose.y*ml",
    # dependency manifests and lock files
    "requirements*.txt", "constraints*.txt", "pyproject.toml", "setup.py", "setup.cfg", "Pipfile*",
    "poetry.lock", "uv.lock", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml",
    "go.mod", "go.sum", "Cargo.toml", "Cargo.lock", "Gemfile*", "pom.xml", "build.gradle*",
    "composer.json", "composer.lock",
    # names that say what the code guards
    "*auth*", "*login*", "*session*", "*token*", "*crypt*", "*secret*", "*password*",
    "*permission*", "*sql*", "*upload*", "*serializ*", "*.pem",
)


class Triggers(Strict):
    design_labels: list[str] = Field(default_factory=lambda: ["design"])
    approve_labels: list[str] = Field(default_factory=lambda: ["spec-approved"])
    large_pr: LargePR = Field(default_factory=LargePR)
    review_on: list[ReviewAction] = Field(default_factory=lambda: list(REVIEW_ACTIONS))
    # a repository's list is added to the operator's (``merge``): it may extend it, never empty it
    security_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_SECURITY_PATHS), min_length=1)
    security_on: list[ReviewAction] = Field(default_factory=lambda: list(REVIEW_ACTIONS))

    # whose check suites are CI results to act on: an App with checks permission is sent every
    # app's suites (linters, coverage bots, its own), and only CI runs say the code is broken
    ci_apps: list[str] = Field(default_factory=lambda: ["github-actions"])

    # a pull request the bot reviewed before is re-reviewed on what the push changed, with the
    # whole pull request as reference; false: every review reads the whole change again
    incremental_review: bool = True

    @model_validator(mode="after")
    def _no_blank_path(self) -> Triggers:
        if any(not p.strip() for p in self.security_paths):
            raise ValueError("security_paths: a pattern may not be blank")
        return self


class Security(Strict):
    """How the security phase filters its own answer. Not a trigger (when the phase starts) nor
    a limit (a cap a repository may only lower): it decides only which findings are posted, so
    a repository may set it either way."""

    # findings the model is less sure of than this are counted in the review, not posted
    min_confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    # the profile of the second, cheap pass that drops false positives; None: no second pass
    verify_profile: Profile | None = "high-throughput"


class Budgets(Strict):
    monthly_usd: float | None = Field(default=50.0, ge=0)  # per repository; None = unlimited
    per_job_usd: float | None = Field(default=5.0, ge=0)


class Limits(Strict):
    output_reserve_tokens: int = Field(default=16_000, gt=0)
    # whole files and related files a review or /ask adds beside the diff: without a cap, a
    # ten-line change would send a 1M-token window's worth of the repository
    context_tokens: int = Field(default=200_000, ge=0)
    max_files_changed: int = Field(default=30, gt=0)
    max_bytes_changed: int = Field(default=500_000, gt=0)
    deny_paths: list[str] = Field(default_factory=list)
    fetch_concurrency: int = Field(default=16, ge=1, le=64)
    # fix rounds on the bot's own branch after red CI; then the draft pull request is the people's
    fix_rounds: int = Field(default=2, ge=0, le=10)
    # an incremental review re-reads the whole pull request as reference (a cached prefix when
    # the provider caches it); that reference costs at most this share of the full review it
    # builds on, so a push costs a fraction of a review even when the cache misses
    delta_reference_share: float = Field(default=0.2, ge=0, le=1)


class RepoConfig(Strict):
    """What a repository may set in .github/model-routing.yml."""

    profiles: dict[Profile, list[str]] | None = None  # model names, chosen among the operator's
    phases: dict[Phase, Profile] | None = None
    routes: list[RouteRule] | None = None
    triggers: Triggers | None = None
    budgets: Budgets | None = None
    limits: Limits | None = None
    instructions: dict[Phase, str] | None = None  # extra prompt text per phase
    security: Security | None = None


DEFAULT_PROFILES: dict[Profile, list[ModelSpec]] = {
    "high-reasoning": [ModelSpec(model="o3-pro"), ModelSpec(model="deepseek/deepseek-reasoner")],
    "high-throughput": [
        ModelSpec(model="gemini/gemini-3-flash-preview"),
        ModelSpec(model="claude-haiku-4-5"),
    ],
    "massive-context": [
        ModelSpec(model="gemini/gemini-3.1-pro-preview"),
        ModelSpec(model="claude-sonnet-4-6"),
        # a 10M-token window: the last resort for prompts no 1M window holds (escalation)
        ModelSpec(model="vertex_ai/meta/llama-4-scout-17b-16e-instruct-maas"),
    ],
}

DEFAULT_PHASES: dict[Phase, Profile] = {
    "spec": "high-reasoning",
    "debug": "high-reasoning",
    "security": "high-reasoning",
    "implement": "high-throughput",
    "review": "massive-context",
    "ask": "massive-context",
}


class Config(Strict):
    """The operator's config; after merging, also the effective config of one repository."""

    profiles: dict[Profile, list[ModelSpec]] = Field(default_factory=lambda: dict(DEFAULT_PROFILES))
    phases: dict[Phase, Profile] = Field(default_factory=lambda: dict(DEFAULT_PHASES))
    routes: list[RouteRule] = Field(default_factory=list)
    triggers: Triggers = Field(default_factory=Triggers)
    budgets: Budgets = Field(default_factory=Budgets)
    limits: Limits = Field(default_factory=Limits)
    instructions: dict[Phase, str] = Field(default_factory=dict)
    security: Security = Field(default_factory=Security)
    retries: int = Field(default=1, ge=0, le=5)  # per model, before falling back
    timeout: float = Field(default=600.0, gt=0)  # seconds per model call
    redact: list[str] = Field(default_factory=list)  # extra secrets to redact from output

    @model_validator(mode="after")
    def _complete(self) -> Config:
        missing = [p for p in PROFILES if not self.profiles.get(p)]
        if missing:
            raise ValueError(f"profiles: {', '.join(missing)} must list at least one model")
        return self

    def models(self, profile: Profile) -> list[ModelSpec]:
        return self.profiles[profile]

    def profile_for(self, phase: Phase) -> Profile:
        """The phase's profile by ``phases`` (routing rules may still pick another per call)."""
        return self.phases.get(phase) or DEFAULT_PHASES[phase]



class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key, value and what is allowed."""
