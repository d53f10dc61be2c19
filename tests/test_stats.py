"""``/stats`` and ``/route``'s track record after real event sequences, checked to the character.

The scene (tests/outcome_scene.py) gives every model reply fixed token counts, so each cost is
exact: reason-a $0.06 a spec, fast-a $0.0022 an implementation, wide-a $0.011 a review, and a fix
round $0.0336 (reason-a's diagnosis) + $0.0012 (fast-a's edits).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.ci_logs import CIFailure
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import FakeLLM
from tests.outcome_scene import REPO, Scene

FOOTER = """
---
<sub>
<br>No model was called for this reply.
<br>Written by Model Routing Bot. A person reviews and decides; the bot never merges or approves.
</sub>
"""


@pytest.fixture
def scene(github: FakeGitHub, llm: FakeLLM, settings: Any, make_dispatcher: Any, ci: CIFailure) -> Scene:
    scene = Scene.start(github, llm, make_dispatcher(settings))
    scene.merged_story(ci.log)  # issue #1, PR #2: red, one fix round, green, merged
    scene.closed_story()  # issue #3, PR #4: spec revised once, taken over, closed
    scene.review_story()  # PR #5: two inline findings, one line rewritten by a push
    return scene


def last_reply(github: FakeGitHub, number: int) -> str:
    return [c.body for c in github.comments(REPO, number) if c.user.login.endswith("[bot]")][-1]


def day(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")


def test_stats_posts_the_table_of_the_last_30_days(scene: Scene, github: FakeGitHub) -> None:
    outcome = scene.comment(1, "/stats")
    now = time.time()

    body = last_reply(github, 1)
    assert body.split("\n", 1)[0].startswith("<!-- model-routing:stats comment=")
    assert body.split("\n", 1)[1] == f"""\
**Model Routing in {REPO}, the last 30 days** ({day(now - 30 * 86400)} to {day(now)} UTC): per phase and the model whose answer was the output, what the outputs cost and what happened to them.

| phase | model | jobs | cost | outcomes |
|---|---|---:|---:|---|
| spec | `openai/reason-a` | 3 | $0.1800 | approved 2 of 3 (67%) after a median under a minute; revised 1 |
| implement | `openai/fast-a` | 2 | $0.0044 | CI green first try 0 of 1 (0%); green after fix rounds 1 (mean 1.0 rounds); PRs merged 1 of 2 (50%); taken over 1; 83% of its lines kept at merge |
| debug | `openai/reason-a` | 0 | $0.0336 | no outcome yet |
| debug | `openai/fast-a` | 1 | $0.0012 | fix rounds green 1 of 1 |
| review | `openai/wide-a` | 1 | $0.0110 | 2 findings inline, acted on 1 (50%) |
| **total** | | 7 | **$0.2302** | |

Cost per merged PR: **$0.0970** over 1 merged pull request (every job on them and on the issues they came from); all-in, everything spent here in these 30 days over the pull requests merged in them: $0.2302.

Rates are of the outputs judged in the window: specs approved, revised or unanswered after 30 days; an implementation green on its first CI run, after fix rounds, or given up; pull requests merged or closed; inline review findings whose lines a later push changed.
{FOOTER}
"""
    [job] = outcome.results
    assert (job.phase, job.outcome, job.model) == ("stats", "ok", "")  # no model was called


def test_stats_with_nothing_recorded_says_so(github: FakeGitHub, llm: FakeLLM, settings: Any,
                                             make_dispatcher: Any) -> None:
    scene = Scene.start(github, llm, make_dispatcher(settings))
    number = scene.issue()
    scene.comment(number, "/stats")
    body = last_reply(github, number)
    assert "No model calls or outcomes recorded here in the last 30 days." in body
    assert "Cost per merged PR: none of the bot's pull requests was merged in these 30 days ($0.0000 spent)." in body


def test_stats_is_for_writers_only(scene: Scene, github: FakeGitHub) -> None:
    before = len(github.comments(REPO, 1))
    scene.comment(1, "/stats", sender="tina")  # triage: no reply at all
    assert len(github.comments(REPO, 1)) == before + 1  # her comment only


def test_route_shows_each_models_track_record_here(scene: Scene, github: FakeGitHub) -> None:
    scene.comment(1, "/route")
    body = last_reply(github, 1)
    section = body[body.index("Track record here"):body.index("\n---\n<sub>")]
    assert section == """\
Track record here, the last 90 days (jobs, cost, and what happened to the outputs; `/stats` for the table):

- `openai/reason-a`: 3 jobs, $0.2136; spec: approved 2 of 3 (67%) after a median under a minute; revised 1
- `openai/wide-a`: 1 job, $0.0110; review: 2 findings inline, acted on 1 (50%)
- `openai/fast-a`: 3 jobs, $0.0056; implement: CI green first try 0 of 1 (0%); green after fix rounds 1 (mean 1.0 rounds); PRs merged 1 of 2 (50%); taken over 1; 83% of its lines kept at merge; debug: fix rounds green 1 of 1

"""
