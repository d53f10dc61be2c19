"""The per-delivery GitHub session against the fake GitHub: who can write (asked once per login,
the bot never asked about), and which comments are the bot's own."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.github.clients import GitHubClients
from bot.github.session import Session
from bot.github.writes import Writes
from bot.settings import Settings
from tests.fakes.github import FakeGitHub

REPO = "acme/widgets"
BOT = "model-routing[bot]"


def _session(settings: Settings, bot_login: str | None = BOT) -> Session:
    gh = GitHubClients(settings).token()
    return Session(gh, REPO, Writes(gh), logging.LoggerAdapter(logging.getLogger("test")), bot_login=bot_login)


def _permission_asks(github: FakeGitHub) -> list[str]:
    return [r.path.split("/")[-2] for r in github.requests if r.path.endswith("/permission")]


def test_writer_comments_keep_only_writers_and_ask_once_per_login(github: FakeGitHub, settings: Settings) -> None:
    github.create_repo(REPO, roles={"alice": "write", "olga": "admin", "mallory": "read"})
    comments: list[dict[str, Any]] = [{"user": {"login": n}, "body": n}
                                      for n in ("alice", "mallory", "olga", "alice", "nobody")]
    comments.append({"user": None, "body": "ghost"})

    async def run() -> list[dict[str, Any]]:
        session = _session(settings)
        async with session.gh:
            return await session.writer_comments(comments)

    kept = asyncio.run(run())
    assert [c["body"] for c in kept] == ["alice", "olga", "alice"]
    assert sorted(_permission_asks(github)) == ["alice", "mallory", "nobody", "olga"]


def test_writer_comments_leave_out_the_bots_own_comments_without_asking(github: FakeGitHub, settings: Settings) -> None:
    github.create_repo(REPO, roles={"alice": "write", BOT: "write"})
    comments: list[dict[str, Any]] = [{"user": {"login": n, "type": t}, "body": n}
                                      for n, t in ((BOT, "Bot"), ("alice", "User"))]

    async def run() -> list[dict[str, Any]]:
        session = _session(settings)
        async with session.gh:
            return await session.writer_comments(comments)

    assert [c["body"] for c in asyncio.run(run())] == ["alice"]
    assert _permission_asks(github) == ["alice"]  # no permission lookup for the bot's own login


def test_is_bot_is_the_pinned_login_only(settings: Settings) -> None:
    session = _session(settings)
    assert session.is_bot({"user": {"login": BOT, "type": "Bot"}})
    assert not session.is_bot({"user": {"login": "other-app[bot]", "type": "Bot"}})
    assert not session.is_bot({"user": {"login": "alice", "type": "User"}})


def test_while_the_bots_login_is_unknown_no_account_is_the_bot(settings: Settings) -> None:
    session = _session(settings, bot_login=None)
    assert not session.is_bot({"user": {"login": "github-actions[bot]", "type": "Bot"}})
    assert not session.is_bot({"user": {"login": "", "type": "Bot"}})
