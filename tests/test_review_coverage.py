"""The review's coverage line gives the true reason for changed files it did not see: GitHub's
3,000-file cap only when the list really stopped there (tests/test_conformance.py shows the fake
stops at it), else a push that changed the pull request between the webhook and the listing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.github.clients import GitHubClients
from bot.github.pull_reads import FileList, RepoTree, list_files, read_pull
from bot.github.session import Session
from bot.github.writes import Writes
from bot.prompts.packing import Coverage
from bot.prompts.review_prompt import note_listing
from bot.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import FakeLLM
from tests.test_review import REPO, base_file, modified_path, pr_event, review_reply, run, seed_large


def test_files_a_push_took_out_of_the_pull_request_are_not_blamed_on_githubs_cap(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, fields = seed_large(github)  # the webhook counts 400 changed files
    # pushed before the bot lists the files: ten files back as they are on the base branch
    github.commit(REPO, "feature", {modified_path(i): base_file(i) for i in range(10)}, message="revert ten")
    llm.default("wide-a", review_reply)

    [result] = run(make_dispatcher(settings), pr_event(fields)).results

    assert result.outcome == "ok"
    [review] = github.reviews(REPO, number)
    assert ("- 10 changed files: the pull request changed while the bot read it "
            "(GitHub listed 390 files of the 400 it counted)") in review.body
    assert "files API lists at most" not in review.body


def test_files_past_githubs_cap_are_blamed_on_the_cap(github: FakeGitHub, settings: Settings) -> None:
    github.create_repo(REPO, {"README.md": "# Engine\n"}, roles={"alice": "write"})
    pull = github.open_pull(REPO, "huge", {f"gen/f{i:04}.txt": f"{i}\n" for i in range(3100)})

    async def listing() -> FileList:
        gh = GitHubClients(settings).token()
        async with gh:
            session = Session(gh, REPO, Writes(gh), logging.LoggerAdapter(logging.getLogger("test")))
            return await list_files(session, await read_pull(session, pull.number))

    listed = asyncio.run(listing())
    coverage = Coverage(files_changed=3100, files_listed=len(listed.files))
    note_listing(coverage, listed, listed.files, RepoTree.of([]), 0)

    assert (listed.capped, listed.not_listed) == (True, 100)
    assert coverage.left_out == ["100 changed files: GitHub's files API lists at most 3,000 files of a pull "
                                 "request, so these were not seen"]
