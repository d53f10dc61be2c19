"""``model-routing replay EVENT PAYLOAD.json [--dry-run]``: one event through the same dispatcher,
from the command line, to reproduce what the App or the Action did with a delivery.

With ``--dry-run`` every read and every model call happens and no write does; each planned
write is printed to stdout as one JSON line ``{"method", "path", "body"}``. Those lines are all
stdout carries: logs, the summary and anything a library prints go to stderr, so the output can
be piped into ``jq`` or compared in a test.

Exit codes as for ``model-routing action``: 0 done, 1 a job failed, 2 the run could not start.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Mapping

from bot.cli.action import action_config
from bot.cli.runner import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    RunError,
    describe_error,
    dispatch_once,
    failed,
    load_event,
    require_auth,
    result_summary,
)
from bot.config import ConfigError
from bot.settings import Settings, SettingsError

log = logging.getLogger("model_routing.replay")


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    dry_run = bool(args.dry_run)
    try:
        # a fresh delivery id: the ledger's per-job spend must not add up across replays
        event = load_event(args.event, args.payload, f"replay-{uuid.uuid4().hex[:12]}")
        settings = Settings.from_env(env)
        config = action_config(settings, env)
        require_auth(settings, event)
    except (RunError, SettingsError, ConfigError) as exc:
        print(f"model-routing replay: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    out = sys.stdout

    def emit(line: str) -> None:
        print(line, file=out, flush=True)

    try:
        # Only planned writes reach stdout; a stray print from a library lands on stderr.
        with contextlib.redirect_stdout(sys.stderr):
            outcome = dispatch_once(settings, config, event, dry_run=dry_run, emit=emit)
    except Exception as exc:
        log.exception("%s failed", event.key)
        print(f"model-routing replay: {event.key} failed: {describe_error(exc)}", file=sys.stderr)
        return EXIT_FAILED
    print(result_summary(event, outcome, dry_run=dry_run), file=sys.stderr, end="")
    return EXIT_FAILED if failed(outcome) else EXIT_OK
