"""bench/cost, outcomes: the routed replay run for real, its pull requests through CI and close, then
``/stats`` (``stats_replay``, ``stats_tables``)."""

from __future__ import annotations

import json
import time
from typing import Any

from common import SCRATCH, fmt, table, target_row  # noqa: F401

OUT = SCRATCH / "cost"


STATS_PLAN = ("green", "green", "green", "green", "taken over", "red, closed", "red, open", "green")  # per approval
STATS_REVISED = 2  # design issues whose spec is asked for again with /spec


def stats_replay(github: Any, config: Any, events: list[tuple[str, str, dict[str, Any], int]]) -> dict[str, Any]:
    """The routed configuration once more, for real (every write made, on the same fake GitHub),
    then what happens to its outputs, then ``/stats``: the 30 events, a design event before each
    approval (so the spec is this ledger's), ``/spec`` again on two design issues, and for the
    eight draft PRs their CI runs (``check_suite`` and ``workflow_run``), a person's commit on
    one, and the closes (``STATS_PLAN``); -> the /stats reply and the event count."""
    import scenario

    from bot.cli.runner import dispatch_once
    from bot.dispatch.events import parse_event
    from bot.github.identity import ACTIONS_BOT
    from bot.settings import Settings
    from tests.fakes import github_events as ge
    from tests.fakes.fixtures import payload
    from tests.fakes.github import ACTION_TOKEN

    repo, writer = scenario.REPO_NAME, scenario.WRITER
    settings = Settings(api_url=github.url, github_token=ACTION_TOKEN, data_dir=OUT / f"data-stats-{int(time.time())}",
                        bot_login=ACTIONS_BOT)
    sent = 0

    def send(name: str, body: dict[str, Any]) -> Any:
        nonlocal sent
        sent += 1
        event = parse_event(name, json.dumps(body).encode(), f"bench-stats-{sent}")
        return dispatch_once(settings, config, event, dry_run=False, emit=lambda _line: None)

    def comment(number: int, text: str) -> Any:
        made = github.add_comment(repo, number, text, user=writer)
        return send("issue_comment", payload("issue_comment", "created", repo=repo, sender=writer,
                                             issue={"number": number},
                                             comment={"id": made.id, "body": text, "user": {"login": writer}}))

    approvals: list[int] = []
    designs: list[int] = []
    for _kind, name, body, _size in events:
        issue = body.get("issue") or {}
        if name == "issues" and (body.get("label") or {}).get("name") == "spec-approved":
            send("issues", {**body, "label": {"name": "design"}})  # this ledger's spec, then its approval
            approvals.append(int(issue["number"]))
        elif name == "issues":
            designs.append(int(issue["number"]))
        send(name, body)
    for number in designs[:STATS_REVISED]:
        comment(number, "/spec")
    for number, fate in zip(approvals, STATS_PLAN, strict=True):
        branch = f"model-routing/issue-{number}"
        pull = next(p.number for p in github.pulls(repo) if p.head_ref == branch)
        if fate == "taken over":
            before = github.state.repo(repo).pulls[pull].last_head
            github.commit(repo, branch, {"NOTES.md": "A person's follow-up.\n"}, message="Follow-up", author=writer)
            send("pull_request", ge.pull_request_synchronize(github, repo, pull, before, sender=writer))
        run = github.add_workflow_run(repo, branch, event="pull_request",
                                      conclusion="failure" if fate.startswith("red") else "success")
        send("check_suite", ge.check_suite_completed(github, run, sender="github-actions[bot]"))
        send("workflow_run", ge.workflow_run_completed(github, run, sender="github-actions[bot]"))
        if fate != "red, open":
            state = github.state
            with state.lock:
                main = state.repo(repo).refs["refs/heads/main"]
            github.close_pull(repo, pull, merged=fate != "red, closed", by=writer)
            with state.lock:
                # the bench's eight implementations all write src/ratelimit/part_*.py: each is
                # merged onto the same main, as if the others lived elsewhere (no conflicts)
                state.repo(repo).refs["refs/heads/main"] = main
            send("pull_request", ge.pull_request_closed(github, repo, pull, sender=writer))
    outcome = comment(designs[0], "/stats")
    body = [c.body for c in github.comments(repo, designs[0]) if c.user.login.endswith("[bot]")][-1]
    return {"events": sent - 1, "body": body, "ok": bool(outcome.results) and outcome.results[0].outcome == "ok"}


def stats_tables(found: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The /stats reply as a result table, and its cost-per-merged-PR line as a note."""
    if not found:
        return [], []
    rows = [[cell.strip().strip("`*") for cell in line.strip().strip("|").split("|")]
            for line in found["body"].splitlines() if line.startswith("| ") and not line.startswith("| phase")]
    lines = [line for line in found["body"].splitlines() if line.startswith("Cost per merged PR")]
    caption = (f"/stats after the routed replay run for real and its outcomes ({found['events']} events): "
               "per phase and model")
    notes = [f"/stats: {line}" for line in lines] + [
        "/stats replay: the routed configuration, every write made; the approvals' PRs then get a CI run each "
        f"and these fates in order: {'; '.join(STATS_PLAN)}. Each merged PR is merged onto the same main (the "
        "bench's implementations all write src/ratelimit/part_*.py, which would conflict). A red run starts a "
        "real fix round (the debug phase's rows); the replay sends no CI run after it, so those rounds have no "
        "outcome yet. The bench model's review findings name no line, so none is inline and none can be acted on.",
    ]
    return [table(caption, ["phase", "model", "jobs", "cost", "outcomes"], rows)], notes
