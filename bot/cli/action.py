"""``model-routing action``: the GitHub Action's edge.

It reads the event GitHub Actions hands the job (``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``),
runs it inline through the same dispatcher the App's workers use (``bot.cli.runner.dispatch_once``),
and reports to the workflow: a job summary (``GITHUB_STEP_SUMMARY``) and step outputs
(``GITHUB_OUTPUT``).

Most events a workflow receives need nothing from the bot, so the order of the checks matters:
the payload, then the fork rule, then ``handlers.router``; only an event some handler takes
builds the dispatcher. Nothing on that path imports litellm (about 2.4 s), so an unhandled event
finishes in the time Python takes to start.

Exit codes (``bot.cli.runner``): 0 done or nothing to do, 1 a job failed, 2 the run could not start.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.cli.runner import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    RunError,
    describe_error,
    dispatch_once,
    failed,
    heading,
    load_event,
    require_auth,
    result_summary,
)
from bot.config import PROFILES, Config, ConfigError, ModelSpec, Profile
from bot.config_files import load_operator_config
from bot.dispatch.events import Event
from bot.github.identity import ACTIONS_BOT
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bot.dispatch.context import JobResult

log = logging.getLogger("model_routing.action")

# action.yml passes the per-profile model inputs as these variables (comma-separated names)
PROFILE_ENV: dict[Profile, str] = {
    profile: "MODEL_ROUTING_" + profile.upper().replace("-", "_") + "_MODELS" for profile in PROFILES
}
# Events whose workflow, for a pull request from a fork, gets no secrets and a read-only token.
# (pull_request_target runs in the base repository with secrets, so it is not listed.)
FORK_LIMITED_EVENTS = frozenset({"pull_request", "pull_request_review", "pull_request_review_comment"})
# Credentials litellm reads besides *_API_KEY variables.
PROVIDER_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_BEARER_TOKEN_BEDROCK", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_AD_TOKEN")


# -- configuration ---------------------------------------------------------------------------

def model_list(text: str | None) -> list[str]:
    """``"openai/o3, deepseek/deepseek-reasoner"`` -> the names; commas or newlines separate."""
    return [name.strip() for name in (text or "").replace("\n", ",").split(",") if name.strip()]


def override_profiles(config: Config, env: Mapping[str, str]) -> Config:
    """The operator config with each profile named by an Action input replaced by that list.

    A name the operator config already lists keeps its entry (API base, key, prices); any other
    name becomes a bare litellm model that reads its key from the environment as litellm does."""
    known = {spec.model: spec for specs in config.profiles.values() for spec in specs}
    profiles = dict(config.profiles)
    for profile, var in PROFILE_ENV.items():
        names = model_list(env.get(var))
        if names:
            profiles[profile] = [known.get(name) or ModelSpec(model=name) for name in names]
    return config.model_copy(update={"profiles": profiles}) if profiles != config.profiles else config


def action_settings(env: Mapping[str, str]) -> Settings:
    """The settings from the environment; the bot posts as ``github-actions[bot]`` (the job's
    ``GITHUB_TOKEN``) unless ``MODEL_ROUTING_BOT_LOGIN`` (input ``bot-login``) names the account
    of another token. Only that account's comments are the bot's (``bot.github.identity``)."""
    settings = Settings.from_env(env)
    return settings if settings.bot_login else replace(settings, bot_login=ACTIONS_BOT)


def action_config(settings: Settings, env: Mapping[str, str]) -> Config:
    """The operator config file (``MODEL_ROUTING_CONFIG`` / input ``config``) with the inputs' model lists."""
    return override_profiles(load_operator_config(settings.config_path), env)


# -- the fork rule ---------------------------------------------------------------------------

def provider_keys(config: Config, env: Mapping[str, str]) -> list[str]:
    """Where a model key is available: keys written in the config, ``env:NAME`` keys that are
    set, and non-empty provider variables (``*_API_KEY`` and a few cloud credentials)."""
    found: list[str] = []
    for specs in config.profiles.values():
        for spec in specs:
            key = spec.api_key or ""
            if key.startswith("env:"):
                if env.get(key[4:], "").strip():
                    found.append(key[4:])
            elif key.strip():
                found.append(f"config ({spec.model})")
    found += [
        name for name, value in env.items()
        if (name.upper().endswith("_API_KEY") or name in PROVIDER_CREDENTIALS) and value.strip()
    ]
    return sorted(set(found))


def fork_without_secrets(event: Event, config: Config, env: Mapping[str, str]) -> str | None:
    """Why the run cannot work, for a pull request from a fork with no model key; else None.

    The rule: the event is one GitHub runs with a fork's restrictions (``pull_request``,
    ``pull_request_review``, ``pull_request_review_comment``), the pull request's head
    repository is not its base repository (or the fork was deleted), and no model key is
    available (``provider_keys``). GitHub then gives the job no secrets and a read-only
    ``GITHUB_TOKEN``: no model could be called and nothing could be posted."""
    if event.name not in FORK_LIMITED_EVENTS:
        return None
    pull = event.payload.get("pull_request")
    if not isinstance(pull, dict):
        return None
    head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
    base = ((pull.get("base") or {}).get("repo") or {}).get("full_name") or event.repo
    if head and head == base:
        return None
    if provider_keys(config, env):
        return None
    return (
        f"pull request #{pull.get('number', '?')} comes from the fork {head or '(deleted)'}: GitHub "
        "gives such workflow runs no secrets and a read-only GITHUB_TOKEN, and no model key is "
        "available. A maintainer can comment `/review` on the pull request to run it with the "
        "repository's secrets"
    )


# -- reporting to the workflow ---------------------------------------------------------------

def write_summary(markdown: str, env: Mapping[str, str]) -> None:
    """Append to the job summary; outside Actions, show it on stderr (stdout carries planned writes)."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        print(markdown, file=sys.stderr)
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown if markdown.endswith("\n") else markdown + "\n")


def write_outputs(values: Mapping[str, object], env: Mapping[str, str]) -> None:
    """Step outputs in GitHub's file format; a value with a newline uses a unique delimiter."""
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return
    lines: list[str] = []
    for name, value in values.items():
        text = str(value)
        if "\n" in text or "\r" in text:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            lines += [f"{name}<<{delimiter}", text, delimiter]
        else:
            lines.append(f"{name}={text}")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def outputs(handled: bool, outcome: str, reason: str = "", results: list[JobResult] | None = None) -> dict[str, object]:
    """``handled``, ``outcome`` and ``reason``; for the first job: ``phase``, ``profile``,
    ``model``, ``url``; over all jobs: ``tokens-in``, ``tokens-out``, ``cost-usd``."""
    results = results or []
    first = results[0] if results else None
    with_url = next((r for r in results if r.url), None)
    return {
        "handled": str(handled).lower(),
        "outcome": outcome,
        "reason": reason,
        "phase": first.phase if first else "",
        "profile": first.profile if first else "",
        "model": first.model if first else "",
        "tokens-in": sum(r.tokens_in for r in results),
        "tokens-out": sum(r.tokens_out for r in results),
        "cost-usd": f"{sum(r.cost_usd for r in results):.6f}",
        "url": with_url.url if with_url else "",
    }


def _nothing(event: Event, reason: str, env: Mapping[str, str], outcome: str = "skipped") -> int:
    from bot.dispatch.dispatcher import Outcome

    log.info("%s: nothing to do (%s)", event.key, reason)
    write_summary(result_summary(event, Outcome(False, reason)), env)
    write_outputs(outputs(False, outcome, reason), env)
    return EXIT_OK


# -- the command -----------------------------------------------------------------------------

def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    dry_run = bool(getattr(args, "dry_run", False))
    run_id = env.get("GITHUB_RUN_ID")
    delivery = f"action-{run_id}-{env.get('GITHUB_RUN_ATTEMPT', '1')}" if run_id else f"action-{uuid.uuid4().hex[:12]}"
    try:
        event = load_event(env.get("GITHUB_EVENT_NAME"), env.get("GITHUB_EVENT_PATH"), delivery)
        settings = action_settings(env)
        config = action_config(settings, env)
    except (RunError, SettingsError, ConfigError) as exc:
        print(f"model-routing action: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    fork = fork_without_secrets(event, config, env)
    if fork:
        return _nothing(event, fork, env, outcome="fork-without-secrets")
    from bot.work.compose import handler_router  # cheap: no model library

    router = handler_router()
    if not router.handles(event.name, event.action):
        return _nothing(event, f"no handler for {event.key}", env)
    if not router.for_sender(event.name, event.action, event.sender_is_bot):  # the dispatcher drops these too
        # (only the handlers registered with bots=True hear bots; decided here without the dispatcher)
        return _nothing(event, f"ignored {event.key} from bot {event.sender}", env)
    try:
        require_auth(settings, event)
    except RunError as exc:
        print(f"model-routing action: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        result = dispatch_once(settings, config, event, dry_run=dry_run)
    except Exception as exc:
        log.exception("%s failed", event.key)
        detail = describe_error(exc)
        write_summary(f"{heading(event)}\n\n**Failed**: {detail}\n", env)
        write_outputs(outputs(True, "failed", detail), env)
        return EXIT_FAILED

    write_summary(result_summary(event, result, dry_run=dry_run), env)
    bad = failed(result)
    outcome = "failed" if bad else ("ok" if result.handled else "skipped")
    write_outputs(outputs(result.handled, outcome, result.reason, result.results), env)
    return EXIT_FAILED if bad else EXIT_OK
