"""``model-routing route`` and ``check-config``, and the ``/route`` comment. No model is called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.config import Config
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.events import Event
from bot.llm.route_view import render_route_comment
from bot.settings import Settings
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "model-routing"

OPERATOR_YML = """
profiles:
  high-reasoning:
    - {model: openai/reason-a, api_base: "http://llm.internal/v1", max_input_tokens: 200000, input_cost_per_million: 20, output_cost_per_million: 80}
  high-throughput:
    - {model: openai/fast-a, api_base: "http://llm.internal/v1", max_input_tokens: 100000, input_cost_per_million: 0.5, output_cost_per_million: 3}
  massive-context:
    - {model: openai/wide-a, api_base: "http://llm.internal/v1", max_input_tokens: 2000000, input_cost_per_million: 2, output_cost_per_million: 12}
routes:
  - when: {labels_any: [L2-exploratory]}
    profile: massive-context
"""


@pytest.fixture(autouse=True)
def _no_operator_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_ROUTING_CONFIG", raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_route_spec_names_a_high_reasoning_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "route", "--phase", "spec", "--json")
    found = json.loads(out)
    assert code == 0
    assert (found["profile"], found["model"]) == ("high-reasoning", "o3-pro")
    assert found["reason"] == "phase spec -> high-reasoning (phases); first model of high-reasoning"
    assert found["window"] == 200_000
    assert found["price_per_million"] == {"input": 20.0, "output": 80.0}


def test_route_three_million_tokens_escalates_to_massive_context(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "route", "--phase", "implement", "--tokens", "3000000", "--json")
    found = json.loads(out)
    assert code == 0
    assert (found["routed_profile"], found["profile"], found["escalated_from"]) == ("high-throughput", "massive-context", "high-throughput")
    assert found["window"] >= 3_016_000
    assert "escalated from high-throughput: 3,000,000 tokens + 16,000 reserved for the reply exceed every " \
           "high-throughput window (largest 1,048,576)" in found["reason"]
    code, text, _ = cli(capsys, "route", "--phase", "implement", "--tokens", "3000000")
    assert "profile    massive-context (escalated from high-throughput)" in text
    assert "price      $" in text and "per million tokens" in text


def test_route_reads_the_operator_config_and_labels(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "operator.yml"
    path.write_text(OPERATOR_YML)
    monkeypatch.setenv("MODEL_ROUTING_CONFIG", str(path))
    code, out, _ = cli(capsys, "route", "--phase", "implement", "--labels", "bug,L2-exploratory", "--json")
    assert code == 0 and json.loads(out)["model"] == "openai/wide-a"
    assert "rule 1: label L2-exploratory" in json.loads(out)["reason"]
    code, out, _ = cli(capsys, "route", "--phase", "review", "--tokens", "5000000")
    assert code == 1 and "no configured model can take 5,000,000 tokens" in out


def test_route_an_unknown_phase_exits_2_with_the_allowed_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "route", "--phase", "deploy")
    assert code == 2
    assert "unknown phase 'deploy'; allowed: spec, implement, review, ask, debug, security" in err


def test_check_config_rejects_a_repository_config_that_sets_api_base(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "model-routing.yml"
    path.write_text("profiles:\n  high-reasoning:\n    - {model: o3-pro, api_base: 'http://evil.example/v1'}\n")
    code, out, err = cli(capsys, "check-config", "--repo", str(path))
    assert code == 1 and out == ""
    assert "profiles.high-reasoning.0.api_base = 'http://evil.example/v1': not allowed in a repository config" in err


def test_check_config_accepts_valid_files_and_names_unknown_models(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    operator = tmp_path / "operator.yml"
    operator.write_text(OPERATOR_YML)
    code, out, _ = cli(capsys, "check-config", str(operator))
    assert code == 0 and out.startswith(f"ok: {operator} is a valid operator config")
    assert "openai/wide-a (window 2,000,000 tokens; $2.00 in / $12.00 out per million)" in out
    repo = tmp_path / "repo.yml"
    repo.write_text("phases: {review: high-reasoning}\nbudgets: {monthly_usd: 10}\n")
    code, out, _ = cli(capsys, "check-config", "--repo", str(repo))
    assert code == 0 and "budgets: $10.00 a month per repository" in out
    fast_a = OPERATOR_YML.splitlines()[5]
    assert "openai/fast-a" in fast_a
    operator.write_text(OPERATOR_YML.replace(fast_a, "    - {model: openai/mystery}"))  # no window, no prices
    code, _, err = cli(capsys, "check-config", str(operator))
    assert code == 1 and "profiles.high-throughput.0.model = 'openai/mystery'" in err
    assert "set max_input_tokens, or base_model" in err


def test_check_config_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "check-config", "--schema", "--repo")
    schema = json.loads(out)
    assert code == 0 and "budgets" in schema["properties"] and "retries" not in schema["properties"]
    code, out, _ = cli(capsys, "check-config", "--schema")
    assert "retries" in json.loads(out)["properties"]


def test_the_installed_command_routes_and_checks(tmp_path: Path) -> None:
    """The console script itself, as an operator runs it (one process per command)."""
    env = {k: v for k, v in os.environ.items() if k != "MODEL_ROUTING_CONFIG"}
    done = subprocess.run([str(CLI), "route", "--phase", "implement", "--tokens", "3000000", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["profile"] == "massive-context" and "escalated from high-throughput" in found["reason"]
    bad = tmp_path / "repo.yml"
    bad.write_text("api_base: http://evil.example\n")
    done = subprocess.run([str(CLI), "check-config", "--repo", str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "api_base = 'http://evil.example'" in done.stderr


def test_route_comment_lists_every_phase(make_config: Callable[..., Config]) -> None:
    config = make_config(routes=[{"when": {"phase": "implement", "labels_any": ["L3-uncertain"]}, "profile": "high-reasoning"}])
    body = render_route_comment(config, labels=["L3-uncertain"], config_error="model-routing.yml: bad key")
    assert "| spec | high-reasoning | `openai/reason-a` | phase spec -> high-reasoning (phases); first model of high-reasoning |" in body
    assert "| implement | high-reasoning | `openai/reason-a` | phase implement -> high-reasoning (rule 1:" in body
    assert "| review | massive-context | `openai/wide-a` |" in body
    assert "> model-routing.yml: bad key" in body
    assert "1. phase implement, label L3-uncertain -> `high-reasoning`" in body


def test_slash_route_replies_with_the_table(github: FakeGitHub, llm: FakeLLM, settings: Settings,
                                            make_dispatcher: Callable[..., Dispatcher]) -> None:
    repo = "acme/widgets"
    github.create_repo(repo, {"README.md": "# w\n", ".github/model-routing.yml": "phases: {review: high-reasoning}\n"},
                       roles={"alice": "write"})
    number = github.add_issue(repo, "Routing?", "which model?", user="alice").number
    comment = github.add_comment(repo, number, "/route", user="alice")
    body: dict[str, Any] = payload("issue_comment", "created", repo=repo, sender="alice",
                                   issue={"number": number, "title": "Routing?"},
                                   comment={"id": comment.id, "body": "/route", "user": {"login": "alice", "type": "User"}})
    make_dispatcher(settings).run_once(Event("issue_comment", body, "d-route"))
    reply = github.comments(repo, number)[-1].body
    assert "<!-- model-routing:route" in reply
    assert "| review | high-reasoning | `openai/reason-a` | phase review -> high-reasoning (phases)" in reply
    assert "No model was called" in reply
    assert llm.requests == []


def test_importing_the_router_and_handlers_does_not_import_litellm() -> None:
    code = "import sys, bot.llm.model_router, bot.llm.route_view, bot.cli.check_config, handlers; print('litellm' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
