"""The outcomes ledger from real event sequences: each outcome tied to the job, phase, profile and
model that produced the output, and recorded once however often GitHub delivers the event.

The scenes are in tests/outcome_scene.py; every event goes through the real dispatcher.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.dispatch.dispatcher import Dispatcher
from bot.store import outcome_log as kinds
from bot.store.ledger import Call, Ledger
from bot.store.outcome_log import STALE_AFTER_S, OutcomeRow
from tests.fakes.ci_logs import CIFailure
from tests.fakes.github import FakeGitHub
from tests.fakes.github_events import workflow_run_completed
from tests.fakes.llm import FakeLLM
from tests.outcome_scene import BOT, EXPORT_FIXED, REPO, Scene


def rows(dispatcher: Dispatcher) -> list[tuple[Any, ...]]:
    return [(r.kind, r.target, r.job, r.root_job, r.phase, r.profile, r.model,
             None if r.value is None or r.kind == kinds.SPEC_APPROVED else round(r.value, 4))
            for r in dispatcher.ledger.outcomes.rows(REPO)]


@pytest.fixture
def scene(github: FakeGitHub, llm: FakeLLM, settings: Any, make_dispatcher: Any) -> Scene:
    return Scene.start(github, llm, make_dispatcher(settings))


def test_design_approve_red_ci_fix_green_merged(scene: Scene, ci: CIFailure) -> None:
    started = time.time()
    issue, pull = scene.merged_story(ci.log)

    # the red run's check_suite (delivery d-3) started the fix round; its workflow_run was held off
    spec, impl, fix = f"d-1:spec:#{issue}", f"d-2:implement:#{issue}", f"d-3:debug:#{pull}"
    assert rows(scene.dispatcher) == [
        (kinds.SPEC_APPROVED, "#1", spec, spec, "spec", "high-reasoning", "openai/reason-a", None),
        # the red run of the implementation's commit, told twice (check_suite, workflow_run)
        (kinds.CI_RED, "#2", impl, impl, "implement", "high-throughput", "openai/fast-a", 0),
        # round 1 read from the fix commit's trailer, credited to the fix job's edit model
        (kinds.CI_GREEN, "#2", fix, impl, "debug", "high-throughput", "openai/fast-a", 1),
        # 5 of the 6 lines the bot's commits added are still there (the fix rewrote one)
        (kinds.PR_MERGED, "#2", impl, impl, "implement", "high-throughput", "openai/fast-a", 0.8333),
    ]
    [approved] = scene.dispatcher.ledger.outcomes.rows(REPO, kinds=[kinds.SPEC_APPROVED])
    assert approved.value is not None and 0 <= approved.value < time.time() - started
    # the CI events came from the bot itself: the observers heard them all; of the handlers that
    # act, only the fix round, once, for the red run
    told = [o for (name, _, _), o in zip(scene.sent, scene.outcomes, strict=True) if name in ("check_suite", "workflow_run")]
    assert len(told) == 4 and all(o.handled for o in told)
    assert [[(r.phase, r.outcome) for r in o.results] for o in told] == [[("debug", "ok")], [("debug", "skipped")], [], []]


def test_every_delivery_again_records_nothing_new(scene: Scene, ci: CIFailure) -> None:
    scene.merged_story(ci.log)
    before = rows(scene.dispatcher)
    for name, body, delivery in list(scene.sent):
        if name != "issue_comment" and not (name == "issues" and body["action"] == "labeled"):
            scene.send(name, body, delivery)  # CI, pushes and the close: GitHub's redeliveries
    assert rows(scene.dispatcher) == before


def test_closed_unmerged_after_a_revision_and_a_persons_commit(scene: Scene) -> None:
    issue, _ = scene.closed_story()

    first, second, impl = f"d-1:spec:#{issue}", f"d-2:spec:#{issue}", f"d-3:implement:#{issue}"
    assert rows(scene.dispatcher) == [
        (kinds.SPEC_REVISED, "#1", first, first, "spec", "high-reasoning", "openai/reason-a", None),
        (kinds.SPEC_APPROVED, "#1", second, second, "spec", "high-reasoning", "openai/reason-a", None),
        # alice's push; her commit's green CI run is not the bot's, and the close repeats the
        # taken-over finding without a second row
        (kinds.PR_TAKEN_OVER, "#2", impl, impl, "implement", "high-throughput", "openai/fast-a", None),
        (kinds.PR_CLOSED, "#2", impl, impl, "implement", "high-throughput", "openai/fast-a", None),
    ]


def test_review_findings_posted_and_acted_on(scene: Scene) -> None:
    pull = scene.review_story()

    review = f"d-1:review:#{pull}"
    assert rows(scene.dispatcher) == [
        (kinds.REVIEW_POSTED, "#1", review, review, "review", "massive-context", "openai/wide-a", 2),
        (kinds.FINDING_ACTED_ON, "#1", review, review, "review", "massive-context", "openai/wide-a", 1),
    ]
    [acted] = scene.dispatcher.ledger.outcomes.rows(REPO, kinds=[kinds.FINDING_ACTED_ON])
    assert acted.detail.startswith("src/values.py:22 changed by ")
    # a push that leaves the other finding's line alone acts on nothing more
    scene.push(pull, "more-values", {"README.md": "# Widgets, with values\n"})
    assert len(rows(scene.dispatcher)) == 2


def test_still_red_after_the_last_fix_round_is_given_up(scene: Scene, ci: CIFailure) -> None:
    number = scene.issue()
    scene.design(number)
    pull = scene.approve(number)
    for fix_round in (1, 2):  # limits.fix_rounds: 2 by default; each round's red run starts it
        scene.red_ci_fixed(number, pull, ci.log, fix_round, EXPORT_FIXED + f"# round {fix_round}\n")
    scene.ci(number, "timed_out", log=ci.log)  # red after the last round: the bot stops there

    found = [(r[0], r[7]) for r in rows(scene.dispatcher)]
    assert found == [(kinds.SPEC_APPROVED, None), (kinds.CI_RED, 0), (kinds.CI_RED, 1), (kinds.CI_RED, 2),
                     (kinds.CI_GIVEN_UP, 2)]


def test_runs_without_a_verdict_and_branches_not_the_bots_record_nothing(scene: Scene, github: FakeGitHub) -> None:
    number = scene.issue()
    scene.design(number)
    scene.approve(number)
    scene.ci(number, "cancelled")
    scene.ci(number, "skipped")
    github.commit(REPO, "feature", {"a.py": "x = 1\n"}, message="Model-Routing-Issue: 1\n")  # a copied trailer
    run = github.add_workflow_run(REPO, "feature", conclusion="failure")
    scene.send("workflow_run", workflow_run_completed(github, run, sender=BOT))
    # a fork's branch with the bot's branch name (the run told as GitHub tells a fork's run)
    run = github.add_workflow_run(REPO, f"model-routing/issue-{number}", conclusion="failure")
    forked = workflow_run_completed(github, run, sender="mallory")
    forked["workflow_run"]["head_repository"]["full_name"] = "mallory/widgets"
    scene.send("workflow_run", forked)
    assert [r[0] for r in rows(scene.dispatcher)] == [kinds.SPEC_APPROVED]


def test_an_unanswered_spec_is_stale_after_30_days(tmp_path: Any) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    now = time.time()
    for n, age_days in ((1, 31), (2, 31), (3, 29)):
        job = f"d-{n}:spec:#{n}"
        ledger.start_job(job, REPO, "spec", f"#{n}", event="issues.labeled", at=now - age_days * 86400)
        ledger.record_call(Call(REPO, job, "spec", "high-reasoning", "openai/reason-a", "phase spec", 10, 10, 0.01, 1.0, "ok"))
        ledger.finish_job(job, "ok", "revision 1", 5.0)
    from bot.store.outcome_log import Outcome

    spec2 = ledger.outcomes.producer("d-2:spec:#2")
    assert spec2 is not None
    ledger.outcomes.record(Outcome(REPO, kinds.SPEC_APPROVED, "approved-2", "#2", spec2, value=86400.0))

    assert ledger.outcomes.sweep_stale_specs(now) == 1
    assert ledger.outcomes.sweep_stale_specs(now) == 0
    [stale] = ledger.outcomes.rows(REPO, kinds=[kinds.SPEC_STALE])
    assert stale == OutcomeRow(now - 31 * 86400 + 5.0 + STALE_AFTER_S, REPO, kinds.SPEC_STALE, "#1",
                               "d-1:spec:#1", "d-1:spec:#1", "spec", "high-reasoning", "openai/reason-a", 30.0, "")
    ledger.close()
