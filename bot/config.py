"""Operator and repository configuration: schema, defaults, loading and merging.

The operator config (``MODEL_ROUTING_CONFIG``) owns the models, keys and API bases. A repository
config (``.github/model-routing.yml`` on the default branch) may only choose among what the
operator listed, and set triggers, thresholds, budgets and deny paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        value = e.get("input")
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        lines.append(f"  {key} = {shown}: {e['msg']}")
    return "\n".join(lines)


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data


def parse_operator_config(text: str, source: str = "operator config") -> Config:
    data = _load_yaml(text, source)
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from err


def load_operator_config(path: str | Path | None) -> Config:
    if not path:
        return Config()
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read operator config: {exc.strerror}") from exc
    return parse_operator_config(text, str(p))


FORBIDDEN_REPO_KEYS = ("api_base", "api_key", "base_model", "extra", "redact", "retries", "timeout")


def _forbidden_keys(data: Any, path: str = "") -> list[str]:
    """Keys a repository may never set, wherever they appear."""
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{path}.{k}" if path else str(k)
            if k in FORBIDDEN_REPO_KEYS:  # named with its value, except a key's (a secret)
                shown = "(hidden)" if k == "api_key" else repr(v) if not isinstance(v, (dict, list)) else type(v).__name__
                found.append(f"{here} = {shown}")
            found += _forbidden_keys(v, here)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _forbidden_keys(v, f"{path}.{i}")
    return found


def parse_repo_config(text: str, source: str = ".github/model-routing.yml") -> RepoConfig:
    data = _load_yaml(text, source)
    bad = _forbidden_keys(data)
    if bad:
        raise ConfigError(
            f"{source}: invalid configuration\n"
            + "\n".join(
                f"  {k}: not allowed in a repository config (only the operator sets API bases, "
                "keys, prices and model parameters)"
                for k in bad
            )
        )
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from err


def merge(operator: Config, repo: RepoConfig | None, source: str = ".github/model-routing.yml") -> Config:
    """The effective config of a repository: its choices laid over the operator's."""
    if repo is None:
        return operator
    update: dict[str, Any] = {}
    if repo.profiles:
        profiles = dict(operator.profiles)
        for profile, names in repo.profiles.items():
            listed = {m.model: m for ps in operator.profiles.values() for m in ps}
            unknown = [n for n in names if n not in listed]
            if unknown:
                allowed = ", ".join(sorted(listed))
                raise ConfigError(
                    f"{source}: invalid configuration\n  profiles.{profile} = {unknown!r}: "
                    f"not a model the operator configured; allowed: {allowed}"
                )
            if not names:
                raise ConfigError(f"{source}: profiles.{profile} must list at least one model")
            profiles[profile] = [listed[n] for n in names]
        update["profiles"] = profiles
    if repo.phases:
        update["phases"] = {**operator.phases, **repo.phases}
    if repo.instructions:
        update["instructions"] = {**operator.instructions, **repo.instructions}
    if repo.routes is not None:
        update["routes"] = repo.routes
    if repo.triggers is not None:  # only the keys the repository wrote; the rest stay the operator's
        written = {k: getattr(repo.triggers, k) for k in repo.triggers.model_fields_set}
        if "security_paths" in written:  # added to, never replaced: a repository cannot opt out
            written["security_paths"] = list(dict.fromkeys([*operator.triggers.security_paths,
                                                            *repo.triggers.security_paths]))
        update["triggers"] = operator.triggers.model_copy(update=written)
    if repo.security is not None:
        update["security"] = operator.security.model_copy(
            update={k: getattr(repo.security, k) for k in repo.security.model_fields_set})
    if repo.limits is not None:
        update["limits"] = _tighter_limits(operator.limits, repo.limits)
    if repo.budgets is not None:
        update["budgets"] = _tighter_budgets(operator.budgets, repo.budgets)
    return operator.model_copy(update=update)


def _tighter_limits(operator: Limits, repo: Limits) -> Limits:
    """A repository may lower the caps and add deny paths, never raise a cap or lift a path."""
    written = repo.model_fields_set
    update: dict[str, Any] = {}
    for key in ("max_files_changed", "max_bytes_changed", "fetch_concurrency", "context_tokens", "fix_rounds",
                "delta_reference_share"):
        if key in written:
            update[key] = min(getattr(operator, key), getattr(repo, key))
    if "output_reserve_tokens" in written:
        update["output_reserve_tokens"] = repo.output_reserve_tokens
    if "deny_paths" in written:
        update["deny_paths"] = list(dict.fromkeys([*operator.deny_paths, *repo.deny_paths]))
    return operator.model_copy(update=update)


def _tighter_budgets(operator: Budgets, repo: Budgets) -> Budgets:
    """A repository may lower its budgets, never raise them past the operator's."""

    def low(a: float | None, b: float | None) -> float | None:
        if a is None:
            return b
        if b is None:
            return a
        return min(a, b)

    return Budgets(
        monthly_usd=low(operator.monthly_usd, repo.monthly_usd),
        per_job_usd=low(operator.per_job_usd, repo.per_job_usd),
    )


def json_schema(repo: bool) -> dict[str, Any]:
    return (RepoConfig if repo else Config).model_json_schema()
