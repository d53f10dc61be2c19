"""Phase 1 when things go wrong: failover inside the high-reasoning profile, every model
failing, the budget spent, an invalid repository config. Whatever happens, the issue gets one
comment that says what happened and how to retry, and the ledger marks the job failed.
"""

from __future__ import annotations

from typing import Any

from bot.answers.spec_doc import extract
from bot.settings import Settings
from bot.store.ledger import Call
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import Fail, FakeLLM
from tests.test_spec import MARK, REPO, labeled, only_comment, run, seed, spec_reply

RETRY_HINT = "comment `/spec` on this issue to try again"


def assert_failed(dispatcher: Any, outcome: Any, number: int, kind: str) -> None:
    """The run reports one failed job of ``kind``, and the ledger marks the job failed."""
    [result] = outcome.results
    assert result.outcome == "failed" and kind in result.detail
    assert dispatcher.ledger.job(f"d-label:spec:#{number}")["outcome"] == "failed"


def test_failover_to_the_second_reasoning_model_when_the_first_answers_500(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    llm.script("reason-a", Fail(500))
    llm.script("reason-b", spec_reply())
    dispatcher = make_dispatcher(settings)

    outcome = run(dispatcher, labeled(number))

    assert llm.models_called() == ["reason-a", "reason-b"]
    body = only_comment(github, number)
    footer = body[body.rindex("<sub>"):]
    assert "**high-reasoning** · `openai/reason-b`" in footer
    assert "reason-a" in footer  # why this model: the first one failed
    [result] = outcome.results
    assert (result.outcome, result.model) == ("ok", "openai/reason-b")
    assert extract(body, settings.webhook_secret) is not None


def test_all_models_failing_gives_one_failure_comment_and_a_failed_job(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    llm.script("reason-a", Fail(500))
    llm.script("reason-b", Fail(503))
    dispatcher = make_dispatcher(settings)

    outcome = run(dispatcher, labeled(number))

    assert llm.models_called() == ["reason-a", "reason-b"]
    body = only_comment(github, number)
    assert body.startswith(MARK.format(n=number))
    assert f"The spec for #{number} could not be written" in body
    assert "Every model of the `high-reasoning` profile failed to answer." in body
    assert RETRY_HINT in body
    assert "no spec has been written for this issue yet" in body
    assert extract(body, settings.webhook_secret) is None  # nothing for the implement phase
    assert "**high-reasoning** · no spec written · $0.0000 spent on this run" in body  # the footer
    assert_failed(dispatcher, outcome, number, "AllModelsFailed")


def test_a_failure_keeps_the_previous_revision_and_the_next_success_replaces_the_notice(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    dispatcher = make_dispatcher(settings)
    llm.script("reason-a", spec_reply(summary="FIRST-SUMMARY"))
    run(dispatcher, labeled(number, delivery="d1"))

    llm.script("reason-a", Fail(500))
    llm.script("reason-b", Fail(500))
    run(dispatcher, labeled(number, delivery="d2"))
    failed = only_comment(github, number)
    assert "could not be written" in failed and RETRY_HINT in failed
    assert "revision 1 of the spec below is unchanged" in failed
    assert "FIRST-SUMMARY" in failed and "**Revision 1**" in failed
    kept = extract(failed, settings.webhook_secret)
    assert kept is not None and kept.revision == 1  # the approved-able spec is still there

    llm.script("reason-a", Fail(500))
    llm.script("reason-b", Fail(500))
    run(dispatcher, labeled(number, delivery="d3"))
    assert only_comment(github, number).count("could not be written") == 1  # notices do not pile up

    llm.script("reason-a", spec_reply(summary="SECOND-SUMMARY"))
    run(dispatcher, labeled(number, delivery="d4"))
    body = only_comment(github, number)
    assert "could not be written" not in body and "FIRST-SUMMARY" not in body
    assert "SECOND-SUMMARY" in body and "**Revision 2**" in body
    # d3 failed exactly as d2 did: the same text, so no write at all
    assert [w.method for w in github.writes()] == ["POST", "PATCH", "PATCH"]
    assert dispatcher.ledger.job(f"d2:spec:#{number}")["outcome"] == "failed"
    assert dispatcher.ledger.job(f"d4:spec:#{number}")["outcome"] == "ok"


def test_spent_budget_gives_the_failure_comment_without_a_model_call(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Any
) -> None:
    number = seed(github)
    llm.default("*", spec_reply())
    dispatcher = make_dispatcher(settings, make_config(budgets={"monthly_usd": 1.0, "per_job_usd": 5.0}))
    dispatcher.ledger.record_call(Call(REPO, "earlier", "review", "massive-context", "openai/wide-a",
                                       "earlier review", 100_000, 10_000, 1.25, 3.0, "ok"))

    outcome = run(dispatcher, labeled(number))

    assert llm.requests == []
    body = only_comment(github, number)
    assert "The model budget for this repository is spent, so no model was called." in body
    assert RETRY_HINT in body
    assert_failed(dispatcher, outcome, number, "BudgetExceeded")


def test_invalid_repository_config_gives_the_failure_comment_without_a_model_call(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github, config="profiles:\n  high-reasoning: [not-an-operator-model]\n")
    llm.default("*", spec_reply())

    dispatcher = make_dispatcher(settings)
    outcome = run(dispatcher, labeled(number))

    assert llm.requests == []
    body = only_comment(github, number)
    assert "`.github/model-routing.yml`) is invalid" in body
    assert "not-an-operator-model" in body  # the details say what is wrong
    assert_failed(dispatcher, outcome, number, "ConfigError")


def test_output_still_invalid_after_one_repair_gives_the_failure_comment_with_the_spend(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    llm.script("reason-a", "I think you should export widgets.", '```json\n{"title": "no summary"}\n```')
    dispatcher = make_dispatcher(settings)

    outcome = run(dispatcher, labeled(number))

    assert llm.models_called() == ["reason-a", "reason-a"]  # the answer, then one repair request
    assert "could not be used" in llm.prompts("reason-a")[1].split("I think you should export widgets.")[1]
    body = only_comment(github, number)
    assert "did not fit the spec format, even after one repair request" in body and RETRY_HINT in body
    spent = sum(c.cost_usd for c in dispatcher.ledger.calls())
    assert spent > 0 and f"${spent:.4f} spent on this run" in body  # invalid answers still cost
    assert_failed(dispatcher, outcome, number, "InvalidOutput")
