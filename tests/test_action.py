"""``model-routing action`` as GitHub Actions runs it: a subprocess with the Actions environment
(``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``, ``GITHUB_TOKEN``, ``GITHUB_STEP_SUMMARY``,
``GITHUB_OUTPUT``) and a real example payload file, against the fake GitHub.

Rules that need no subprocess (the fork rule, the profile inputs, bad input) run in-process.
"""

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

from bot.cli import action
from bot.config import ModelSpec
from bot.config_files import parse_operator_config
from bot.dispatch.events import parse_event
from tests.fakes.fixtures import payload
from tests.fakes.github import ACTION_TOKEN, FakeGitHub

ROOT = Path(__file__).resolve().parent.parent
REPO = "acme/widgets"
CLI = Path(sys.executable).with_name("model-routing")


def read_outputs(path: Path) -> dict[str, str]:
    """GitHub's GITHUB_OUTPUT format: ``name=value`` lines and ``name<<DELIM`` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        name, _, value = line.partition("=")
        values[name] = value
        i += 1
    return values


class ActionRun:
    """The files and environment of one Actions job step."""

    def __init__(self, tmp: Path, github: FakeGitHub) -> None:
        self.tmp = tmp
        self.summary = tmp / "summary.md"
        self.output = tmp / "output.txt"
        self.event_path = tmp / "event.json"
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN": ACTION_TOKEN,
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_RUN_ID": "4242",
            "MODEL_ROUTING_DATA_DIR": str(tmp / "data"),
        }

    def event(self, name: str, body: dict[str, Any]) -> ActionRun:
        self.event_path.write_text(json.dumps(body))
        self.env.update(GITHUB_EVENT_NAME=name, GITHUB_EVENT_PATH=str(self.event_path))
        return self

    def run(self, *args: str, profile_imports: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if profile_imports:
            env["PYTHONPROFILEIMPORTTIME"] = "1"  # every imported module is listed on stderr
        return subprocess.run([str(CLI), "action", *args], env=env, capture_output=True,
                              text=True, timeout=60, cwd=self.tmp)

    def outputs(self) -> dict[str, str]:
        return read_outputs(self.output)


def imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | name``."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


@pytest.fixture
def job(tmp_path: Path, github: FakeGitHub) -> ActionRun:
    return ActionRun(tmp_path, github)


def help_comment(number: int, sender: str = "alice", body: str = "/help") -> dict[str, Any]:
    return payload("issue_comment", "created", repo=REPO, sender=sender,
                   issue={"number": number, "pull_request": None, "labels": []},
                   comment={"id": 9001, "body": body, "user": {"login": sender}})


# -- end to end through the subprocess -----------------------------------------------------

def test_help_comment_by_a_writer_posts_the_reply_and_reports_to_the_workflow(
        job: ActionRun, github: FakeGitHub) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    issue = github.add_issue(REPO, "Widgets are slow", "Please look.")
    job.event("issue_comment", help_comment(issue.number))

    done = job.run(profile_imports=True)

    assert done.returncode == 0, done.stderr[-3000:]
    comments = github.comments(REPO, issue.number)
    assert len(comments) == 1
    assert comments[0].user.login == "github-actions[bot]"
    assert "<!-- model-routing:help comment=9001 -->" in comments[0].body
    assert "`/route`" in comments[0].body and "`/cost`" in comments[0].body
    summary = job.summary.read_text()
    assert "issue_comment.created" in summary and "| help | ok |" in summary
    out = job.outputs()
    assert out["handled"] == "true" and out["outcome"] == "ok" and out["phase"] == "help"
    assert out["url"].endswith(f"/issues/{issue.number}#issuecomment-{comments[0].id}")
    assert out["cost-usd"] == "0.000000"
    # /help needs no model: the model library is never loaded
    assert "litellm" not in imported(done.stderr)


def test_unhandled_event_exits_0_without_loading_litellm_or_calling_github(
        job: ActionRun, github: FakeGitHub) -> None:
    job.event("watch", payload("watch", "started", repo=REPO, sender="stranger"))
    del job.env["GITHUB_TOKEN"]  # not even a token is needed to do nothing

    done = job.run(profile_imports=True)

    assert done.returncode == 0, done.stderr[-3000:]
    modules = imported(done.stderr)
    assert "handlers" in modules  # decided by the handlers' router ...
    assert not {m for m in modules if m.split(".")[0] == "litellm"}  # ... with no model library
    assert github.requests == []
    assert "Nothing to do: no handler for watch.started" in job.summary.read_text()
    assert job.outputs()["handled"] == "false"


def test_fork_pull_request_without_secrets_says_so_and_exits_0(
        job: ActionRun, github: FakeGitHub) -> None:
    body = payload("pull_request", "opened", repo=REPO, sender="mallory",
                   pull_request={"number": 7, "draft": False,
                                 "head": {"repo": {"full_name": "mallory/widgets"}},
                                 "base": {"repo": {"full_name": REPO}}})
    job.event("pull_request", body)
    config = job.tmp / "ops.yml"
    config.write_text(yaml.safe_dump({"profiles": {p: [{"model": f"openai/{p}", "api_key": "env:LLM_KEY"}]
                                                   for p in ("high-reasoning", "high-throughput", "massive-context")}}))
    job.env["MODEL_ROUTING_CONFIG"] = str(config)
    job.env["OPENAI_API_KEY"] = ""  # a secret GitHub withheld arrives empty

    done = job.run()

    assert done.returncode == 0, done.stderr[-3000:]
    summary = job.summary.read_text()
    assert "comes from the fork mallory/widgets" in summary and "no secrets" in summary
    assert job.outputs()["outcome"] == "fork-without-secrets"
    assert github.writes() == []


def test_missing_event_path_exits_2_with_a_clear_message(job: ActionRun, github: FakeGitHub) -> None:
    job.env["GITHUB_EVENT_NAME"] = "issue_comment"

    done = job.run()

    assert done.returncode == 2
    assert "GITHUB_EVENT_PATH is not set" in done.stderr
    assert "Traceback" not in done.stderr
    assert github.requests == []


# -- the same code in-process: input errors, failures, the rules --------------------------

def run_inline(job: ActionRun, dry_run: bool = False) -> int:
    return action.run(argparse.Namespace(dry_run=dry_run), env=job.env)


@pytest.mark.parametrize("content, expected", [
    (b"{not json", "payload is not valid JSON"),
    (b"[1, 2]", "payload must be a JSON object"),
    (None, "cannot read the payload file"),
])
def test_bad_payload_exits_2(job: ActionRun, capsys: pytest.CaptureFixture[str],
                             content: bytes | None, expected: str) -> None:
    job.env.update(GITHUB_EVENT_NAME="issues", GITHUB_EVENT_PATH=str(job.event_path))
    if content is not None:
        job.event_path.write_bytes(content)
    assert run_inline(job) == 2
    err = capsys.readouterr().err
    assert expected in err and str(job.event_path) in err


def test_invalid_operator_config_exits_2(job: ActionRun, capsys: pytest.CaptureFixture[str]) -> None:
    job.event("issue_comment", help_comment(1))
    bad = job.tmp / "ops.yml"
    bad.write_text("budgets: {monthly_usd: -3}\n")
    job.env["MODEL_ROUTING_CONFIG"] = str(bad)
    assert run_inline(job) == 2
    assert "budgets.monthly_usd" in capsys.readouterr().err


def test_handled_event_without_a_token_exits_2(job: ActionRun, github: FakeGitHub,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    job.event("issue_comment", help_comment(1))
    del job.env["GITHUB_TOKEN"]
    assert run_inline(job) == 2
    assert "set GITHUB_TOKEN" in capsys.readouterr().err
    assert github.requests == []


def test_a_failed_job_exits_1_and_the_summary_says_why(job: ActionRun, github: FakeGitHub) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    issue = github.add_issue(REPO, "Widgets are slow")
    github.fail("POST", rf"^/repos/{REPO}/issues/{issue.number}/comments$", 403,
                {"message": "Resource not accessible by integration",
                 "documentation_url": "https://docs.github.com/rest"})
    job.event("issue_comment", help_comment(issue.number))

    assert run_inline(job) == 1
    assert "Resource not accessible by integration" in job.summary.read_text()
    assert job.outputs()["outcome"] == "failed"
    assert github.comments(REPO, issue.number) == []


def test_dry_run_plans_the_reply_and_writes_nothing(job: ActionRun, github: FakeGitHub,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    github.create_repo(REPO, roles={"alice": "maintain"})
    issue = github.add_issue(REPO, "Widgets are slow")
    job.event("issue_comment", help_comment(issue.number))

    assert run_inline(job, dry_run=True) == 0
    planned = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["method"], p["path"]) for p in planned] == [("POST", f"/repos/{REPO}/issues/{issue.number}/comments")]
    assert github.writes() == []
    assert "1 write(s) to GitHub planned, not made (dry run)" in job.summary.read_text()


def test_a_bots_comment_ends_at_once(job: ActionRun, github: FakeGitHub) -> None:
    job.event("issue_comment", payload("issue_comment", "created", repo=REPO, sender="dependabot[bot]",
                                       sender_type="Bot", comment={"body": "/help"}))
    del job.env["GITHUB_TOKEN"]
    assert run_inline(job) == 0
    assert "ignored issue_comment.created from bot dependabot[bot]" in job.summary.read_text()
    assert job.outputs()["handled"] == "false"
    assert github.requests == []


def test_multiline_output_values_use_a_delimiter(job: ActionRun) -> None:
    action.write_outputs({"reason": "line one\nline two", "handled": "true"}, job.env)
    assert job.outputs() == {"reason": "line one\nline two", "handled": "true"}


def fork_event(name: str = "pull_request", head: str | None = "mallory/widgets") -> Any:
    pull = payload("pull_request", "opened", repo=REPO)["pull_request"]
    pull["head"]["repo"] = {**pull["head"]["repo"], "full_name": head} if head else None
    pull["base"]["repo"]["full_name"] = REPO
    body = payload("pull_request", "opened", repo=REPO, pull_request=pull)
    return parse_event(name, body)


def ops_config(api_key: str | None = None) -> Any:
    key = {"api_key": api_key} if api_key else {}
    return parse_operator_config(yaml.safe_dump({"profiles": {
        p: [{"model": f"openai/{p}", **key}] for p in ("high-reasoning", "high-throughput", "massive-context")}}))


def test_fork_rule() -> None:
    config = ops_config()
    # a fork, no key anywhere (empty secrets count as missing), deleted fork too
    assert "fork mallory/widgets" in (action.fork_without_secrets(fork_event(), config, {"OPENAI_API_KEY": ""}) or "")
    assert "(deleted)" in (action.fork_without_secrets(fork_event(head=None), config, {}) or "")
    assert action.fork_without_secrets(fork_event("pull_request_review"), config, {})
    # same repository, or a key is available, or the event runs with the base's secrets
    assert action.fork_without_secrets(fork_event(head=REPO), config, {}) is None
    assert action.fork_without_secrets(fork_event(), config, {"GEMINI_API_KEY": "g-123"}) is None
    assert action.fork_without_secrets(fork_event(), ops_config("env:LLM_KEY"), {"LLM_KEY": "k-1"}) is None
    assert action.fork_without_secrets(fork_event(), ops_config("env:LLM_KEY"), {}) is not None
    assert action.fork_without_secrets(fork_event(), ops_config("sk-literal"), {}) is None
    assert action.fork_without_secrets(fork_event("pull_request_target"), config, {}) is None


def test_profile_inputs_replace_the_configs_profiles() -> None:
    base = parse_operator_config(yaml.safe_dump({"profiles": {
        "high-reasoning": [{"model": "openai/reason-a", "api_base": "http://llm.internal", "max_input_tokens": 1000}],
        "high-throughput": [{"model": "openai/fast-a"}],
        "massive-context": [{"model": "openai/wide-a"}],
    }}))
    env = {"MODEL_ROUTING_HIGH_THROUGHPUT_MODELS": " openai/reason-a, gemini/gemini-3-flash-preview ,",
           "MODEL_ROUTING_MASSIVE_CONTEXT_MODELS": ""}
    config = action.override_profiles(base, env)
    assert config.profiles["high-throughput"] == [base.profiles["high-reasoning"][0],
                                                  ModelSpec(model="gemini/gemini-3-flash-preview")]
    assert config.profiles["high-reasoning"] == base.profiles["high-reasoning"]  # not given: kept
    assert config.profiles["massive-context"] == base.profiles["massive-context"]  # empty: kept
    assert action.override_profiles(base, {}) is base


def test_action_yml_passes_every_input_and_maps_every_output() -> None:
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    assert spec["runs"]["using"] == "composite"
    steps = spec["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert '"$ACTION_PATH"' in install["run"] and "-e" not in install["run"].split()
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    run = next(s for s in steps if s.get("id") == "run")
    assert "model-routing\" action" in run["run"]
    for profile, var in action.PROFILE_ENV.items():
        assert run["env"][var] == f"${{{{ inputs.{profile}-models }}}}"
        assert f"{profile}-models" in spec["inputs"]
    assert run["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    assert spec["inputs"]["github-token"]["default"] == "${{ github.token }}"
    written = set(action.outputs(True, "ok"))
    assert set(spec["outputs"]) == written
    for name, out in spec["outputs"].items():
        assert out["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


@pytest.mark.parametrize("dry_run, expected", [("true", ["action", "--dry-run"]), ("false", ["action"])])
def test_action_yml_run_script_passes_dry_run(tmp_path: Path, dry_run: str, expected: list[str]) -> None:
    """The step's shell script, run by bash with a stand-in ``model-routing`` that echoes its args."""
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    script = next(s for s in spec["runs"]["steps"] if s.get("id") == "run")["run"]
    venv_bin = tmp_path / "bin"
    venv_bin.mkdir()
    stub = venv_bin / "model-routing"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    stub.chmod(0o755)
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "VENV": str(tmp_path), "DRY_RUN": dry_run})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected


def test_docs_workflow_is_complete() -> None:
    text = (ROOT / "docs" / "action.md").read_text()
    workflow = yaml.safe_load(text.split("```yaml", 1)[1].split("```", 1)[0])
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert triggers["issues"]["types"] == ["labeled"]
    assert triggers["issue_comment"]["types"] == ["created"]
    assert set(triggers["pull_request"]["types"]) == {"opened", "synchronize", "ready_for_review"}
    assert workflow["permissions"] == {"contents": "write", "issues": "write", "pull-requests": "write",
                                       "security-events": "write"}
    step = next(s for s in workflow["jobs"]["model-routing"]["steps"] if "model-routing-bot" in s.get("uses", ""))
    assert all(v.startswith("${{ secrets.") for v in step["env"].values())
    assert "docs/action.md" in (ROOT / "README.md").read_text()
