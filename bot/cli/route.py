"""``model-routing route --phase P [--tokens N] [--labels a,b] [--json]``: which profile and
model would serve a call, and why, without calling any model."""

from __future__ import annotations

import argparse
import json
import sys

from bot.config import PHASES, ConfigError
from bot.config_files import load_operator_config
from bot.llm.route_view import describe, text_report
from bot.settings import Settings, SettingsError


def run(args: argparse.Namespace) -> int:
    """``model-routing route --phase P [--tokens N] [--labels a,b] [--json]``."""
    if args.phase not in PHASES:
        print(f"model-routing route: unknown phase {args.phase!r}; allowed: {', '.join(PHASES)}", file=sys.stderr)
        return 2
    tokens = args.tokens or 0
    if tokens < 0:
        print("model-routing route: --tokens must be 0 or more", file=sys.stderr)
        return 2
    labels = [label.strip() for label in (args.labels or "").split(",") if label.strip()]
    try:
        config = load_operator_config(Settings.from_env().config_path)
        found = describe(config, args.phase, tokens=tokens, labels=labels)
    except (ConfigError, SettingsError) as exc:
        print(f"model-routing route: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=2) if args.json else text_report(found))
    return 1 if found["error"] else 0
