from __future__ import annotations

import pytest

from bot.dispatch.events import EventError, parse_event


def test_reads_the_fields_it_needs_from_the_raw_payload() -> None:
    # label.archived_at-less labels and other gaps must not matter: only raw fields are read.
    payload = {
        "action": "labeled",
        "issue": {"number": 7, "title": "t"},
        "label": {"name": "design"},
        "repository": {"full_name": "acme/widgets"},
        "installation": {"id": 42},
        "sender": {"login": "alice", "type": "User"},
    }
    event = parse_event("issues", payload, "d-1")
    assert (event.key, event.repo, event.installation_id) == ("issues.labeled", "acme/widgets", 42)
    assert (event.issue_number, event.sender, event.sender_is_bot) == (7, "alice", False)
    assert not event.is_pull_request
    assert event.typed() is None  # githubkit's strict model rejects this partial payload


def test_bots_and_pull_request_comments_are_recognised() -> None:
    event = parse_event(
        "issue_comment",
        b'{"action":"created","issue":{"number":3,"pull_request":{"url":"x"}},"sender":{"login":"model-routing[bot]","type":"Bot"}}',
    )
    assert event.sender_is_bot and event.is_pull_request and event.issue_number == 3


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", "\"text\""])
def test_bad_payloads_raise_a_clear_error(raw: bytes | str) -> None:
    with pytest.raises(EventError):
        parse_event("issues", raw)


def test_missing_event_name() -> None:
    with pytest.raises(EventError, match="missing event name"):
        parse_event("", {})
