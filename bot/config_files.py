"""Reading the two config files and laying one over the other: the operator's
(``MODEL_ROUTING_CONFIG``) and a repository's (``.github/model-routing.yml`` on its default
branch), each validated with errors that name the key, the value and what is allowed; the
repository's choices merged key by key over the operator's, its caps only ever tighter.

The schema and the defaults are ``bot.config``'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config import Budgets, Config, ConfigError, Limits, RepoConfig


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
