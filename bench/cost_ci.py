"""bench/cost, CI failures: what a fix round costs next to redoing the implementation on the reasoning
model (``ci_rounds``, ``ci_tables``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from common import SCRATCH, fmt, table, target_row

OUT = SCRATCH / "cost"


CI_REPO = "octo-org/textstats"
CI_ISSUES = 3
BOT = "github-actions[bot]"  # the Action token's login in the fake: the draft PRs' author


def _cost_per_delivery(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Calls, tokens, cost and models per delivery, from a dry run's ledger."""
    from bot.store.ledger import Ledger

    ledger = Ledger(Path(data_dir) / "ledger.sqlite3")
    calls = ledger.calls()
    ledger.close()
    out: dict[str, dict[str, Any]] = {}
    for c in calls:
        slot = out.setdefault(c.job.split(":", 1)[0], {"calls": 0, "in": 0, "out": 0, "usd": 0.0, "models": []})
        slot["calls"] += 1
        slot["in"] += c.tokens_in
        slot["out"] += c.tokens_out
        slot["usd"] += c.cost_usd
        slot["models"].append(f"{c.phase}: {c.model.replace('openai/bench-', '')}")
    return out


def _red_run(github: Any, failure: Any, issue: int) -> dict[str, Any]:
    """CI (the real failing pytest log) on the head of the bot's branch for ``issue``."""
    from tests.fakes.github_events import workflow_run_completed

    branch = f"model-routing/issue-{issue}"
    head = github.state.repo(CI_REPO).head(branch)
    run = github.add_workflow_run(CI_REPO, head, branch, event="pull_request", conclusion="failure", actor=BOT,
                                  jobs=[{"name": "test", "log": failure.log, "annotations": failure.annotations}])
    return workflow_run_completed(github, run, sender=BOT)


def _ci_dispatch(settings: Any, config: Any, kind: str, name: str, bodies: list[dict[str, Any]],
                 dry_run: bool = True) -> list[dict[str, Any]]:
    from bot.cli.runner import dispatch_once
    from bot.dispatch.events import parse_event

    rows = []
    for k, body in enumerate(bodies):
        delivery = f"ci-{kind}-{k}-{int(time.time() * 1000)}"
        outcome = dispatch_once(settings, config, parse_event(name, json.dumps(body).encode(), delivery),
                                dry_run=dry_run, emit=lambda _line: None)
        rows.append({"delivery": delivery, "detail": "; ".join(f"{r.outcome}: {r.detail}" for r in outcome.results)})
    return rows


def ci_rounds(github: Any, llm: Any, routed: Any) -> dict[str, list[dict[str, Any]]]:
    """Build the CI world and measure fix rounds 1 and 2 and the redone implementation (see the
    module's doc); -> rows per kind, each with its cost."""
    from bot.config import Config
    from bot.settings import Settings
    from tests.fakes.ci_logs import PROJECT, failing_ci_run
    from tests.fakes.github import ACTION_TOKEN

    on_reasoning = Config.model_validate({**routed.model_dump(mode="json"),
                                          "phases": {**routed.phases, "implement": "high-reasoning"}})
    failure = failing_ci_run(OUT / f"ci-{int(time.time())}")
    github.create_repo(CI_REPO, {"README.md": "# textstats\n", **PROJECT, ".github/workflows/ci.yml": "on: pull_request\n"},
                       roles={scenario_writer(): "write"})
    made = Settings(api_url=github.url, github_token=ACTION_TOKEN, data_dir=OUT / "ci-setup", bot_login=BOT)
    approvals = []
    for i in range(CI_ISSUES):
        issue = github.add_issue(CI_REPO, f"Summaries of windows, part {i}", f"Design {i}: " + "x" * 400,
                                 user=scenario_writer(), labels=["design"]).number
        for label in ("design", "spec-approved"):  # the spec and the draft PR, for real
            rows = _ci_dispatch(made, routed, f"setup-{label}", "issues", [_ci_labeled(issue, label)], dry_run=False)
            if not rows[0]["detail"].startswith("ok"):
                raise RuntimeError(f"CI set-up of #{issue} ({label}) failed: {rows[0]['detail']}")
        approvals.append(_ci_labeled(issue, "spec-approved"))
    issues = [int(a["issue"]["number"]) for a in approvals]
    measured: dict[str, list[dict[str, Any]]] = {}

    def measure(kind: str, name: str, config: Any, bodies: list[dict[str, Any]]) -> None:
        data_dir = OUT / f"ci-{kind}-{int(time.time() * 1000)}"
        settings = Settings(api_url=github.url, github_token=ACTION_TOKEN, data_dir=data_dir, bot_login=BOT)
        rows = _ci_dispatch(settings, config, kind, name, bodies)
        costs = _cost_per_delivery(data_dir)
        measured[kind] = [{**r, **costs.get(r["delivery"], {"calls": 0, "in": 0, "out": 0, "usd": 0.0, "models": []})}
                          for r in rows]

    first = [_red_run(github, failure, n) for n in issues]
    measure("fix round 1", "workflow_run", routed, first)
    _ci_dispatch(made, routed, "round-1-made", "workflow_run", first, dry_run=False)  # round 1's commits, for real
    measure("fix round 2", "workflow_run", routed, [_red_run(github, failure, n) for n in issues])
    measure("implementation as routed", "issues", routed, approvals)
    measure("implementation on high-reasoning", "issues", on_reasoning, approvals)
    return measured


def _ci_labeled(number: int, label: str) -> dict[str, Any]:
    from tests.fakes.fixtures import payload

    return payload("issues", "labeled", repo=CI_REPO, sender=scenario_writer(), label={"name": label},
                   issue={"number": number, "title": f"Summaries of windows, part {number}",
                          "labels": [{"name": label}], "user": {"login": scenario_writer()}})


def scenario_writer() -> str:
    import scenario

    return scenario.WRITER


def ci_tables(measured: dict[str, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The CI tables, the target and notes for the report."""
    rows, per_event = [], []
    mean: dict[str, float] = {}
    for kind, events in measured.items():
        n = max(1, len(events))
        mean[kind] = sum(e["usd"] for e in events) / n
        models = sorted(set(m for e in events for m in e["models"]))
        rows.append([kind, fmt(len(events)), fmt(sum(e["calls"] for e in events) / n), fmt(sum(e["in"] for e in events) // n),
                     fmt(sum(e["out"] for e in events) // n), f"${mean[kind]:,.4f}", ", ".join(models)])
        per_event += [[kind, e["detail"][:140], fmt(e["calls"]), f"${e['usd']:,.4f}"] for e in events]
    redo = mean.get("implementation on high-reasoning", 0.0)
    both = mean.get("fix round 1", 0.0) + mean.get("fix round 2", 0.0)
    compare = [
        ["fix round 1 (diagnosis high-reasoning, edits high-throughput)", f"${mean.get('fix round 1', 0):,.4f}",
         f"{100 * mean.get('fix round 1', 0) / redo:.0f}%" if redo else "n/a"],
        ["fix round 2 (diagnosis and edits high-reasoning)", f"${mean.get('fix round 2', 0):,.4f}",
         f"{100 * mean.get('fix round 2', 0) / redo:.0f}%" if redo else "n/a"],
        ["both rounds (the most a red PR costs: limits.fix_rounds = 2)", f"${both:,.4f}",
         f"{100 * both / redo:.0f}%" if redo else "n/a"],
        ["redoing the implementation on high-reasoning (o3-pro)", f"${redo:,.4f}", "100%"],
        ["the implementation as routed (high-throughput)", f"${mean.get('implementation as routed', 0):,.4f}",
         f"{100 * mean.get('implementation as routed', 0) / redo:.0f}%" if redo else "n/a"],
    ]
    failed = [f"{k}: {e['detail'][:160]}" for k, es in measured.items() for e in es if not e["detail"].startswith("ok")]
    tables = [
        table("CI failures: a fix round next to redoing the implementation on the reasoning model (mean per pull request)",
              ["what", "cost", "of redoing on high-reasoning"], compare),
        table(f"CI failures, {CI_ISSUES} draft PRs with the real failing pytest log, dry run (means per event)",
              ["event", "events", "model calls", "tokens in", "tokens out", "cost", "phase: model"], rows),
        table("CI failures per event", ["event", "what the job did", "calls", "cost"], per_event),
    ]
    first = mean.get("fix round 1", 0.0)
    targets = [target_row("CI: fix round 1 costs less than redoing the implementation on high-reasoning",
                          f"${first:,.4f} vs ${redo:,.4f} = {100 * first / redo:.0f}%" if redo else "n/a",
                          first < redo if redo else None),
               target_row("CI fix rounds: every round wrote its fix (none failed)",
                          f"{len(failed)} failed of {sum(len(es) for es in measured.values())} events", not failed,
                          "; ".join(failed)[:400])]
    notes = ["CI failures: the project and its failing log come from tests/fakes/ci_logs.py (a real pytest run); the "
             "diagnosis and the fix are the bench model's canned answers of realistic size (a ~600-token diagnosis, "
             "a one-block edit). Reasoning tokens o3-pro bills are not counted, so its rows are lower bounds.",
             "CI failures: a fix round reads more than an implementation (the cut logs, the diff and the files the "
             "failure names) but writes little; an implementation's cost on the reasoning model is mostly its output "
             "(the new code), billed at the reasoning model's output price."]
    return tables, targets, notes
