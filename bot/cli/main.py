"""The ``model-routing`` command. Each subcommand lives in its own module, imported only when
run, so that ``model-routing action`` on an event it does not handle never imports litellm."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# subcommand -> "module:function"; each function takes the parsed args and returns an exit code
COMMANDS = {
    "serve": "bot.cli.serve:run",
    "worker": "bot.cli.worker:run",
    "action": "bot.cli.action:run",
    "replay": "bot.cli.replay:run",
    "route": "bot.cli.route:run",
    "check-config": "bot.cli.check_config:run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="model-routing",
        description="Route each phase of software work to the class of LLM that fits it.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the GitHub App webhook server (with embedded workers)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--workers", type=int, default=2, help="worker threads in this process (0: none)")
    serve.add_argument("--dry-run", action="store_true", help="print planned writes instead of writing")

    worker = sub.add_parser("worker", help="run queue workers only (with REDIS_URL, on any machine)")
    worker.add_argument("--workers", type=int, default=2)
    worker.add_argument("--dry-run", action="store_true")

    action = sub.add_parser("action", help="run inside GitHub Actions on GITHUB_EVENT_PATH")
    action.add_argument("--dry-run", action="store_true")

    replay = sub.add_parser("replay", help="run one event payload through the dispatcher")
    replay.add_argument("event", help="event name, e.g. issues or pull_request")
    replay.add_argument("payload", help="path to the JSON payload")
    replay.add_argument("--dry-run", action="store_true", help="read and call models, print writes")

    route = sub.add_parser("route", help="show which model a phase would use, without calling it")
    route.add_argument("--phase", required=True)
    route.add_argument("--tokens", type=int, default=None, help="prompt size to route for")
    route.add_argument("--labels", default="", help="comma-separated labels for routing rules")
    route.add_argument("--json", action="store_true")

    check = sub.add_parser("check-config", help="validate an operator or repository config file")
    check.add_argument("file", nargs="?", help="YAML file to check")
    check.add_argument("--repo", action="store_true", help="check it as .github/model-routing.yml")
    check.add_argument("--schema", action="store_true", help="print the JSON Schema and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    module_name, func_name = COMMANDS[args.command].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
