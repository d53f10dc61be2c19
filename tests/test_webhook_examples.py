"""Every payload GitHub documents for the events the bot listens to goes through the bot.

The payloads are @octokit/webhooks-examples, GitHub's community examples of real deliveries.
Each is parsed as the edge parses a body (bytes), its raw fields are read, githubkit's strict
model is tried (best effort: ``Event.typed()`` is None when it rejects a real payload), and it
is dispatched, in dry-run, through the same dispatcher the App and the Action use, against the
fake GitHub holding the repositories the examples name. The counts per event are printed here
and in the session summary (tests/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.events import parse_event
from bot.settings import Settings
from tests.fakes.fixtures import examples, examples_path, require
from tests.fakes.github import FakeGitHub

EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review",
          "pull_request_review_comment", "installation", "installation_repositories", "ping"]


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def seed(github: FakeGitHub, payloads: list[dict[str, Any]]) -> None:
    """The repositories the examples name, each with issue #1 and pull request #2 (the numbers
    the examples use), so handlers that read them find what GitHub would have."""
    for name in sorted({r for p in payloads if (r := _get(p, "repository", "full_name"))}):
        github.create_repo(name, {"README.md": "# Hello\n"})
        github.add_issue(name, "Spelling error in the README file", "It looks like you "
                         "accidently spelled 'commit' with two 't's.", user="Codertocat")
        github.open_pull(name, "changes", {"README.md": "# Hello World\n"},
                         title="Update the README")


def check_raw_fields(name: str, body: dict[str, Any]) -> None:
    """What the bot reads comes from the raw payload, whatever githubkit thinks of it."""
    event = parse_event(name, json.dumps(body).encode(), "example")
    action = body.get("action")
    assert event.key == (f"{name}.{action}" if action else name)
    assert event.repo == _get(body, "repository", "full_name")
    assert event.sender == _get(body, "sender", "login")
    assert event.installation_id == _get(body, "installation", "id")
    number = _get(body, "issue", "number") or _get(body, "pull_request", "number")
    assert event.issue_number == number
    assert event.is_pull_request == (name.startswith("pull_request") or
                                     _get(body, "issue", "pull_request") is not None)


@pytest.mark.parametrize("name", EVENTS)
def test_every_example_payload_parses_and_dispatches(
        github: FakeGitHub, settings: Settings, make_dispatcher: Callable[..., Dispatcher],
        name: str) -> None:
    require(examples_path(), "@octokit/webhooks-examples")
    payloads = examples(name)
    assert payloads, f"@octokit/webhooks-examples has no {name} payload"
    seed(github, payloads)
    dispatcher = make_dispatcher(settings)
    typed, handled, failures = 0, 0, []
    for i, body in enumerate(payloads):
        where = f"{name}.{body.get('action')} example #{i}"
        try:
            check_raw_fields(name, body)
            event = parse_event(name, json.dumps(body).encode(), f"example-{i}")
            model = event.typed()  # never raises: None when githubkit's model rejects it
            if model is not None:
                typed += 1
                assert getattr(model, "action", None) == event.action
            outcome = dispatcher.run_once(event, dry_run=True)
            assert outcome.handled or outcome.reason, "an unhandled event says why"
            handled += outcome.handled
        except Exception as exc:  # noqa: BLE001 - collect them all, then fail with the list
            failures.append(f"{where}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)
    assert not github.writes(), "a dry run wrote to GitHub"
    github.backend.stats.examples[name] = (len(payloads), typed, handled)
    print(f"{name}: {len(payloads)} example payloads dispatched ({handled} reached a handler), "
          f"{typed} typed by githubkit, {len(payloads) - typed} through the raw payload only")
