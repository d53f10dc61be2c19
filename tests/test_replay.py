"""``model-routing replay EVENT PAYLOAD.json [--dry-run]``: one event through the same dispatcher
from the command line (a subprocess), against the fake GitHub."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import replay as replay_command
from tests.fakes.fixtures import payload
from tests.fakes.github import ACTION_TOKEN, FakeGitHub
from tests.fakes.llm import FakeLLM

REPO = "acme/widgets"
CLI = Path(sys.executable).with_name("model-routing")


def replay(tmp: Path, github: FakeGitHub, event: str, body: dict[str, Any] | None, *args: str,
           **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp / "payload.json"
    if body is not None:
        path.write_text(json.dumps(body))
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN": ACTION_TOKEN, "MODEL_ROUTING_DATA_DIR": str(tmp / "data")}
    base.update(env)
    return subprocess.run([str(CLI), "replay", event, str(path), *args], env={k: v for k, v in base.items() if v},
                          capture_output=True, text=True, timeout=60, cwd=tmp)


def comment_event(number: int, body: str, sender: str = "alice") -> dict[str, Any]:
    return payload("issue_comment", "created", repo=REPO, sender=sender,
                   issue={"number": number, "pull_request": None, "labels": []},
                   comment={"id": 5150, "body": body, "user": {"login": sender}})


def test_dry_run_prints_each_planned_write_as_one_json_line_and_writes_nothing(
        tmp_path: Path, github: FakeGitHub) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    issue = github.add_issue(REPO, "Widgets are slow")

    done = replay(tmp_path, github, "issue_comment", comment_event(issue.number, "/help\n/cost"), "--dry-run")

    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    planned = [json.loads(line) for line in lines]  # every stdout line is one JSON object
    assert [set(p) for p in planned] == [{"method", "path", "body"}] * 2
    assert [(p["method"], p["path"]) for p in planned] == [("POST", f"/repos/{REPO}/issues/{issue.number}/comments")] * 2
    assert "<!-- model-routing:help comment=5150 -->" in planned[0]["body"]["body"]
    assert "<!-- model-routing:cost comment=5150 -->" in planned[1]["body"]["body"]
    # the reads happened, the writes did not
    assert any(r.path.endswith("/collaborators/alice/permission") for r in github.requests)
    assert github.writes() == []
    assert github.comments(REPO, issue.number) == []
    assert "planned, not made (dry run)" in done.stderr  # the summary goes to stderr


def test_without_dry_run_it_writes(tmp_path: Path, github: FakeGitHub) -> None:
    github.create_repo(REPO, roles={"alice": "admin"})
    issue = github.add_issue(REPO, "Widgets are slow")

    done = replay(tmp_path, github, "issue_comment", comment_event(issue.number, "/help"))

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == ""
    assert len(github.comments(REPO, issue.number)) == 1


# input errors: the same ``run`` in-process (the subprocess tests above cover the CLI wiring)

def replay_inline(tmp: Path, body: dict[str, Any] | None, env: dict[str, str]) -> int:
    path = tmp / "payload.json"
    if body is not None:
        path.write_text(json.dumps(body))
    args = argparse.Namespace(event="issue_comment", payload=str(path), dry_run=True)
    return replay_command.run(args, env={"MODEL_ROUTING_DATA_DIR": str(tmp / "data"), **env})


def test_without_credentials_it_exits_2_and_says_what_to_set(
        tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_inline(tmp_path, comment_event(1, "/help"), {"GITHUB_API_URL": github.url}) == 2
    err = capsys.readouterr().err
    assert "set GITHUB_TOKEN" in err and "Traceback" not in err
    assert github.requests == []


def test_app_credentials_need_an_installation_in_the_payload(
        tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"GITHUB_API_URL": github.url, "GITHUB_APP_ID": str(github.app.app_id),
           "GITHUB_APP_PRIVATE_KEY": github.app.private_key_pem}
    assert replay_inline(tmp_path, comment_event(1, "/help"), env) == 2
    assert "names no installation" in capsys.readouterr().err
    assert github.requests == []


def test_unreadable_payload_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_inline(tmp_path, None, {"GITHUB_TOKEN": ACTION_TOKEN}) == 2
    err = capsys.readouterr().err
    assert "cannot read the payload file" in err and "payload.json" in err


def test_dry_run_makes_the_model_call_but_no_write(tmp_path: Path, github: FakeGitHub, llm: FakeLLM,
                                                   make_config: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A design label: the spec is written by the fake LLM (the call happens) and only planned.
    In-process (``bot.cli.replay.run``), so the model library loads once per test session."""
    from tests.test_spec import spec_reply

    github.create_repo(REPO, {"README.md": "# Widgets\n"}, roles={"alice": "write"})
    number = github.add_issue(REPO, "Export widgets as CSV", "We need CSV.", user="alice").number
    llm.default("*", spec_reply())
    ops = tmp_path / "ops.yml"
    ops.write_text(yaml.safe_dump(make_config().model_dump(mode="json", exclude_defaults=True)))
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload("issues", "labeled", repo=REPO, sender="alice",
                                       issue={"number": number, "title": "Export widgets as CSV"},
                                       label={"name": "design"})))
    env = {"GITHUB_API_URL": github.url, "GITHUB_TOKEN": ACTION_TOKEN, "MODEL_ROUTING_CONFIG": str(ops),
           "MODEL_ROUTING_DATA_DIR": str(tmp_path / "data")}

    code = replay_command.run(argparse.Namespace(event="issues", payload=str(path), dry_run=True), env=env)

    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    assert llm.models_called() == ["reason-a"]
    [planned] = [json.loads(line) for line in out.out.splitlines()]
    assert planned["method"] == "POST" and planned["path"] == f"/repos/{REPO}/issues/{number}/comments"
    assert "`openai/reason-a`" in planned["body"]["body"]
    assert github.writes() == []
