"""The world the end-to-end benchmarks run in: the tests' fake GitHub and fake LLM, started in
the benchmark's own process, and an operator config whose profiles point at the fake LLM.

The fakes are the same ones the tests use (tests/fakes/), so a benchmark drives the real bot
over real HTTP. OpenAPI validation of the fake GitHub is off by default here: it checks shapes,
which the tests already do, and would add its own CPU time to every figure.

What the model answers there (specs, edit plans, reviews, CI diagnoses of realistic size) is
bench/bench_llm.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401 - puts the checkout on sys.path
import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from timing import Clock

from tests.fakes.github import ACTION_TOKEN, FakeGitHub
from tests.fakes.github_server import ServerThread
from tests.fakes.llm import FakeLLM

REPO_NAME = "octo-org/widgets"
WRITER = "alice"


def start_github(openapi: bool = False) -> tuple[FakeGitHub, Clock]:
    spec = None
    if openapi:
        from tests.fakes.fixtures import openapi_path
        from tests.fakes.openapi import OpenAPI

        spec = OpenAPI.load(openapi_path())
    fake = FakeGitHub(spec)
    clock = Clock()
    clock.install(fake.backend)
    # the server thread captured backend.handle when it was built: build it again, timed
    fake._server._socket.close()
    fake._server = ServerThread(fake.backend)
    return fake.start(), clock


def start_llm() -> FakeLLM:
    return FakeLLM().start()


def operator_config(llm_url: str, models: dict[str, list[dict[str, Any]]], **extra: Any) -> dict[str, Any]:
    """An operator config (as YAML data) with each profile's models on the fake LLM."""
    profiles = {p: [{"api_base": llm_url, "api_key": "bench-key-not-secret", **m} for m in ms]
                for p, ms in models.items()}
    return {"retries": 0, "timeout": 60.0, **extra, "profiles": profiles}


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_models() -> dict[str, list[dict[str, Any]]]:
    from tests.conftest import TEST_MODELS

    return {p: [dict(m) for m in ms] for p, ms in TEST_MODELS.items()}


def action_env(github: FakeGitHub, event: str, payload_path: Path, data_dir: Path,
               config_path: Path | None) -> dict[str, str]:
    """The environment GitHub Actions gives the bot, pointed at the fake GitHub."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "MODEL_ROUTING_")) and not k.endswith("_API_KEY")}
    env.update({
        "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(payload_path),
        "GITHUB_TOKEN": ACTION_TOKEN, "GITHUB_REPOSITORY": REPO_NAME, "GITHUB_API_URL": github.url,
        "MODEL_ROUTING_DATA_DIR": str(data_dir), "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(data_dir / "summary.md"),
        "GITHUB_OUTPUT": str(data_dir / "output.txt"), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    })
    if config_path is not None:
        env["MODEL_ROUTING_CONFIG"] = str(config_path)
    data_dir.mkdir(parents=True, exist_ok=True)
    return env


# ---------------------------------------------------------------------------- generated code

WORDS = ("value", "result", "config", "request", "items", "index", "handler", "payload", "state",
         "cache", "client", "buffer", "record", "limit", "offset", "count", "total", "name")


def code_line(seed: int, i: int) -> str:
    """A line of Python-like code, unique per (seed, i), about 45 characters."""
    a, b = WORDS[(seed * 7 + i) % len(WORDS)], WORDS[(seed * 3 + i * 5) % len(WORDS)]
    return f"    {a}_{i} = compute_{b}({seed}, {i} * 17 + {a}_limit)"


def repo_files(n_files: int, lines: int = 30, per_dir: int = 200) -> dict[str, str]:
    """A repository of ``n_files`` Python modules in directories of ``per_dir``."""
    files: dict[str, str] = {"README.md": "# widgets\n\nA service.\n", "pyproject.toml": "[project]\nname = 'widgets'\n"}
    for n in range(n_files - len(files)):
        path = f"src/pkg{n // per_dir:03d}/module_{n:05d}.py"
        files[path] = "\n".join([f"\"\"\"Module {n}.\"\"\"", f"def run_{n}():"]
                                + [code_line(n, i) for i in range(lines - 2)]) + "\n"
    return files


def pr_change(base: dict[str, str], n_files: int, changed_lines: int, seed: int = 1) -> dict[str, str]:
    """``n_files`` changed files with ``changed_lines`` changed lines in all: half of them existing
    modules rewritten in part (deletions and additions), half new modules."""
    per_file = max(1, changed_lines // n_files)
    existing = [p for p in base if p.endswith(".py")]
    out: dict[str, str] = {}
    for k in range(n_files):
        extra = changed_lines - per_file * n_files if k == n_files - 1 else 0
        c = per_file + extra
        if k % 2 == 0 and k // 2 < len(existing):
            path = existing[(k // 2 * 7919) % len(existing)]
            if path in out:
                path = f"src/new/extra_{seed}_{k:05d}.py"
                out[path] = "\n".join(code_line(seed * 100_000 + k, i) for i in range(c)) + "\n"
                continue
            old = base[path].splitlines()
            d = min(len(old) - 2, c // 3)
            new = old[:2] + [code_line(seed * 100_000 + k, 10_000 + i) for i in range(c - d)] + old[2 + d:]
            out[path] = "\n".join(new) + "\n"
        else:
            path = f"src/new/feature_{seed}_{k:05d}.py"
            out[path] = "\n".join(code_line(seed * 100_000 + k, i) for i in range(c)) + "\n"
    return out


# ---------------------------------------------------------------------------- pushes and re-reviews


def mirrored_defaults(llm_url: str, **extra: Any) -> Any:
    """The default operator config (bot/config.py DEFAULT_PROFILES) mirrored onto the fake LLM:
    each model as `openai/bench-<name>` with `base_model` = the default model, so windows, prices,
    cached prices and whether it caches prompts are litellm's for that model. Budgets lifted."""
    from bot.config import DEFAULT_PROFILES, Config

    profiles = {p: [{"model": "openai/bench-" + s.model.replace("/", "-"), "base_model": s.model} for s in specs]
                for p, specs in DEFAULT_PROFILES.items()}
    data = operator_config(llm_url, profiles, budgets={"monthly_usd": None, "per_job_usd": None}, **extra)
    return Config.model_validate(data)


def opened_event(github: FakeGitHub, repo_name: str, pull: Any) -> dict[str, Any]:
    """`pull_request.opened` for a pull request of the fake, from GitHub's example payload."""
    from tests.fakes import github_shapes as shapes
    from tests.fakes.fixtures import payload

    state = github.state
    with state.lock:
        shape = shapes.pull_request(github.url, state, state.repo(repo_name), pull)
    return payload("pull_request", "opened", repo=repo_name, sender=WRITER, number=pull.number, pull_request=shape)


def push_three(github: FakeGitHub, repo_name: str, branch: str, change: dict[str, str], tag: str) -> str:
    """A push that changes three files of the pull request: five lines added to each."""
    paths = sorted(p for p in change if p.endswith(".py"))[:3]
    now = github.files(repo_name, branch)
    edits = {p: now[p].decode() + "".join(f"    pushed_{tag}_{i} = compute_value({i})\n" for i in range(5))
             for p in paths}
    return github.commit(repo_name, branch, edits, message=f"Push {tag}", author=WRITER)


def run_priced(name: str, data_root: Path, github: FakeGitHub, config: Any, event_name: str, body: dict[str, Any],
               dry_run: bool) -> dict[str, Any]:
    """One event through `dispatch_once` (as `model-routing replay` runs it) in a data directory
    of its own; -> what its ledger recorded (cost, tokens, cached tokens, models) and what the
    review it wrote or planned says (title, coverage line or the "Checked" line)."""
    import json

    from bot.cli.runner import dispatch_once
    from bot.dispatch.events import parse_event
    from bot.github.identity import ACTIONS_BOT
    from bot.settings import Settings
    from bot.store.ledger import Ledger

    data_dir = data_root / name.replace(" ", "-").replace(",", "").replace("/", "-")
    settings = Settings(api_url=github.url, github_token=ACTION_TOKEN, data_dir=data_dir, bot_login=ACTIONS_BOT)
    event = parse_event(event_name, json.dumps(body).encode(), f"bench-{time.time_ns()}")
    planned: list[str] = []
    writes = len(github.writes())
    started = time.monotonic()
    outcome = dispatch_once(settings, config, event, dry_run=dry_run, emit=planned.append)
    seconds = time.monotonic() - started
    ledger = Ledger(data_dir / "ledger.sqlite3")
    calls = [c for c in ledger.calls() if c.outcome == "ok"]
    ledger.close()
    made = [json.loads(p) for p in planned] if dry_run else [
        {"method": w.method, "path": w.path, "body": w.json} for w in github.writes()[writes:]]
    text = next((str((w["body"] or {}).get("body") or "") for w in made), "")
    lines = text.split("\n")
    return {"name": name, "dry_run": dry_run, "outcome": ", ".join(r.outcome for r in outcome.results) or "none",
            "detail": "; ".join(r.detail for r in outcome.results),
            "writes": [f"{w['method']} {w['path']}" for w in made],
            "coverage": next((x for x in lines if x.startswith(("**Coverage:**", "**Checked"))), ""),
            "title": next((x for x in lines if x.startswith("## Review of")), ""),
            "models": sorted({c.model for c in calls}), "calls": len(calls),
            "tokens_in": sum(c.tokens_in for c in calls), "tokens_cached": sum(c.tokens_cached for c in calls),
            "tokens_out": sum(c.tokens_out for c in calls), "usd": sum(c.cost_usd for c in calls),
            "seconds": seconds}
