"""``model-routing check-config FILE [--repo] [--schema]``: validate a config before deploying it.

An operator config must parse, and every model must have a known window and prices (from
litellm's map, ``base_model`` or the config), or the bot could neither route nor budget it. A
repository config (``--repo``) must also keep to what a repository may set, and is merged over
the operator's config (``MODEL_ROUTING_CONFIG``, else the built-in defaults) so a model the
operator did not list is caught here rather than on the first event.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.config import Config, ConfigError
from bot.config_files import json_schema, load_operator_config, merge, parse_operator_config, parse_repo_config
from bot.llm import catalog
from bot.settings import Settings, SettingsError

PROG = "model-routing check-config"


def check_models(config: Config, source: str) -> None:
    """ConfigError naming every model whose window or prices are unknown."""
    problems = []
    for profile, specs in config.profiles.items():
        for index, spec in enumerate(specs):
            try:
                catalog.window(spec)
                catalog.prices(spec)
            except catalog.UnknownModel as exc:
                problems.append(f"  profiles.{profile}.{index}.model = {spec.model!r}: {exc}")
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(problems))


def _missing_keys(config: Config) -> list[str]:
    """Keys read from the environment that are not set here: a warning, since the bot may run
    where they are."""
    out = []
    for specs in config.profiles.values():
        for spec in specs:
            try:
                catalog.api_key(spec)
            except ConfigError as exc:
                out.append(str(exc))
    return out


def summary(config: Config, source: str, kind: str) -> str:
    lines = [f"ok: {source} is a valid {kind}"]
    for profile, specs in config.profiles.items():
        lines.append(f"  {profile}:")
        lines += [f"    {index + 1}. {catalog.describe(spec)}" for index, spec in enumerate(specs)]
    lines.append("  phases: " + ", ".join(f"{phase} -> {profile}" for phase, profile in config.phases.items()))
    if config.routes:
        lines.append(f"  routing rules: {len(config.routes)}")
    budgets = config.budgets
    lines.append(
        "  budgets: "
        + ("unlimited" if budgets.monthly_usd is None else f"${budgets.monthly_usd:.2f}")
        + " a month per repository, "
        + ("no cap" if budgets.per_job_usd is None else f"${budgets.per_job_usd:.2f}")
        + " per job"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(json_schema(repo=args.repo), indent=2))
        return 0
    if not args.file:
        print(f"{PROG}: give the FILE to check, or --schema for the JSON Schema", file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        text = path.read_text()
    except OSError as exc:
        print(f"{PROG}: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        if args.repo:
            operator = load_operator_config(Settings.from_env().config_path)
            config = merge(operator, parse_repo_config(text, str(path)), str(path))
            kind = "repository config (merged over the operator's)"
        else:
            config = parse_operator_config(text, str(path))
            kind = "operator config"
        check_models(config, str(path))
    except (ConfigError, SettingsError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(summary(config, str(path), kind))
    for warning in _missing_keys(config):
        print(f"warning: {warning} (here; set it where the bot runs)", file=sys.stderr)
    return 0
