"""The implementation phase's Git Data API work: read the default branch's head, write a tree
(small text files inline, others as blobs) and a commit on top of it, point the bot's own branch
at the commit, open or edit its draft pull request.

Every write goes through ``session.writes`` (dry-run prints it). Nothing here can write the default
branch: ``point_branch`` only accepts the bot's own ``model-routing/`` branches. The branch is the
bot's alone, so moving it is a forced update, and the pull request is found by its head so a
second approval edits it instead of opening another.

Round trips are what the job waits for: the default branch is read in one (``bot.github.git_base``,
confirmed while the tree is written), the bot's branch and its pull request are read once, up
front, and the writes use what was read, reading again only if GitHub says it changed meanwhile.
"""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.aio import bounded
from bot.answers.edits import Change
from bot.github.git_base import BaseSnapshot, confirm_base
from bot.github.rest import decoded_content, get_json, get_json_or_none, http_status

if TYPE_CHECKING:
    from bot.github.session import Session

BRANCH_PREFIX = "model-routing/"
BRANCH_RE = re.compile(r"^model-routing/issue-(\d+)$")
# Trailers on every commit the bot writes: the issue it implements, and on a fix of red CI the
# round, so the round count lives in git (and survives restarts and other machines)
ISSUE_TRAILER = "Model-Routing-Issue"
FIX_ROUND_TRAILER = "Model-Routing-Fix-Round"
INLINE_MAX_BYTES = 100_000  # per file sent as tree content: small enough for one request
INLINE_MAX_TOTAL = 1_000_000  # all inline content of one tree request; the rest as blobs


class BranchGuardError(RuntimeError):
    """A write aimed at a branch that is not the bot's own: a bug, never done."""


def branch_for(issue: int) -> str:
    return f"{BRANCH_PREFIX}issue-{issue}"


def issue_of_branch(branch: str | None) -> int | None:
    """The issue number of one of the bot's branches (``model-routing/issue-N``), else None."""
    match = BRANCH_RE.match(branch or "")
    return int(match.group(1)) if match else None


def trailers(message: str, name: str) -> list[str]:
    """The values of the trailer ``name`` in a commit message (``Name: value`` lines)."""
    found = re.findall(rf"^{re.escape(name)}:[ \t]*(\S.*?)[ \t]*$", message, re.MULTILINE | re.IGNORECASE)
    return [str(v) for v in found]


def written_by_bot(message: str, issue: int) -> bool:
    """Whether a commit carries the bot's trailer for ``issue``: a commit without it is a person's."""
    return str(issue) in trailers(message, ISSUE_TRAILER)


async def read_files(session: Session, base: BaseSnapshot, paths: list[str], concurrency: int) -> dict[str, bytes]:
    """The content of each existing file, by blob SHA (so it is the head's content even if the
    branch moves meanwhile), ``concurrency`` reads at a time."""

    async def one(path: str) -> tuple[str, bytes | None]:
        item = base.items.get(path)
        if item is None or item.type != "blob" or not item.sha:
            return path, None
        content = decoded_content(await get_json(session.gh, f"/repos/{session.repo}/git/blobs/{item.sha}"))
        if content is None:  # never taken for an empty file: the model would rewrite it blind
            raise ValueError(f"GitHub's answer for the blob of {path} is not valid base64")
        return path, content

    found = await bounded(concurrency, [partial(one, p) for p in dict.fromkeys(paths)])
    return {path: content for path, content in found if content is not None}


def _inline(change: Change) -> bool:
    """Small UTF-8 text goes in the tree request itself, saving the blob round trip; larger or
    non-UTF-8 content keeps its own blob request (the tree request stays small)."""
    if change.content is None:
        return False
    try:
        return len(change.content.encode("utf-8")) <= INLINE_MAX_BYTES
    except UnicodeEncodeError:
        return False


async def write_commit(
    session: Session, base: BaseSnapshot, changes: list[Change], message: str, concurrency: int
) -> str:
    """One tree over the base tree (small text inline, other contents as blobs first, deletions
    as ``sha: null``) and one commit whose parent is the base head. Returns the commit SHA.
    The base's head and tree are confirmed against each other while the tree is written (a
    tree nothing points at is harmless); ``BaseMoved`` stops it before the commit."""
    inline_left = INLINE_MAX_TOTAL

    async def entry(change: Change, inline: bool) -> dict[str, Any]:
        item = {"path": change.path, "mode": change.mode, "type": "blob"}
        if change.content is None:
            return {**item, "sha": None}
        if inline:
            return {**item, "content": change.content}
        made = await session.writes.request(
            "POST", f"/repos/{session.repo}/git/blobs", {"content": change.content, "encoding": "utf-8"}
        )
        return {**item, "sha": made["sha"]}

    plan: list[tuple[Change, bool]] = []
    for change in changes:
        inline = _inline(change) and change.size <= inline_left
        inline_left -= change.size if inline else 0
        plan.append((change, inline))
    entries = await bounded(concurrency, [partial(entry, c, inline) for c, inline in plan])
    if not base.tree_sha:  # the listing could not name its tree: ask the head commit first
        base = await confirm_base(session, base)
        tree = await _tree(session, base.tree_sha, entries)
    else:  # the pair is confirmed while the tree is written; nothing points at the tree yet
        made, confirmed = await asyncio.gather(
            _tree(session, base.tree_sha, entries), confirm_base(session, base), return_exceptions=True
        )
        if isinstance(confirmed, BaseException):
            raise confirmed
        if confirmed.tree_sha != base.tree_sha:  # same entries, another name: write it on that
            base, made = confirmed, await _tree(session, confirmed.tree_sha, entries)
        if isinstance(made, BaseException):
            raise made
        tree = made
    commit = await session.writes.request(
        "POST",
        f"/repos/{session.repo}/git/commits",
        {"message": message, "tree": tree["sha"], "parents": [base.head_sha]},
    )
    return str(commit["sha"])


async def _tree(session: Session, base_tree: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return await session.writes.request("POST", f"/repos/{session.repo}/git/trees", {"base_tree": base_tree, "tree": entries})


def _guard(branch: str, default_branch: str) -> None:
    if not branch.startswith(BRANCH_PREFIX) or branch == default_branch or ".." in branch:
        raise BranchGuardError(f"refusing to write branch {branch!r}: only the bot's own {BRANCH_PREFIX}* branches")


async def branch_head(session: Session, branch: str) -> str | None:
    ref = await get_json_or_none(session.gh, f"/repos/{session.repo}/git/ref/heads/{quote(branch)}")
    return str(ref["object"]["sha"]) if isinstance(ref, dict) and ref.get("object") else None


async def commit_message(session: Session, sha: str) -> str:
    data = await get_json_or_none(session.gh, f"/repos/{session.repo}/git/commits/{sha}")
    return str((data or {}).get("message") or "")


async def point_branch(
    session: Session, branch: str, sha: str, default_branch: str, head: str | None = None, *, known: bool = False
) -> str:
    """Create the bot's branch at ``sha``, or force-move it there. Returns "created" or "moved".
    ``known``: ``head`` is the branch's head as read earlier in the job (None: no branch), so no
    read is needed; if GitHub says that changed meanwhile, the branch is read and written again.
    A creation whose answer is lost, or that GitHub refuses because the ref exists, finds the ref
    and moves it to ``sha`` instead (``Writes.create``): a branch is never left half-made."""
    _guard(branch, default_branch)
    if not known:
        head = await branch_head(session, branch)
    if head is not None:
        try:
            await _move(session, branch, sha)
            return "moved"
        except Exception as exc:
            # a 422 on a branch read earlier in the job: it was deleted since, so create it
            if not known or http_status(exc) != 422:
                raise

    async def found() -> dict[str, Any] | None:  # made meanwhile, or before a lost answer
        now = await branch_head(session, branch)
        return None if now is None else {"object": {"sha": now}}

    how = ["created"]

    async def move(ref: dict[str, Any]) -> dict[str, Any]:
        if ref["object"]["sha"] == sha:
            return ref  # this very write, applied before its answer was lost
        how[0] = "moved"
        return await _move(session, branch, sha)

    await session.writes.create(f"/repos/{session.repo}/git/refs", {"ref": f"refs/heads/{branch}", "sha": sha},
                                find=found, update=move, exists=True)
    return how[0]


async def _move(session: Session, branch: str, sha: str) -> dict[str, Any]:
    return await session.writes.request(
        "PATCH", f"/repos/{session.repo}/git/refs/heads/{quote(branch)}", {"sha": sha, "force": True}
    )


async def advance_branch(session: Session, branch: str, sha: str, default_branch: str) -> None:
    """Move the bot's branch to ``sha``, a commit on top of its head, as a fast-forward only:
    GitHub refuses (422) when the branch no longer points at that commit's parent, so work pushed
    meanwhile is never overwritten."""
    _guard(branch, default_branch)
    await session.writes.request(
        "PATCH", f"/repos/{session.repo}/git/refs/heads/{quote(branch)}", {"sha": sha, "force": False}
    )


async def open_pull(session: Session, branch: str) -> dict[str, Any] | None:
    """The open pull request whose head is the bot's branch in this repository."""
    pulls = await get_json(session.gh, f"/repos/{session.repo}/pulls", {"head": f"{session.owner}:{branch}", "state": "open"})
    for pull in pulls if isinstance(pulls, list) else []:
        if (pull.get("head") or {}).get("ref") == branch:
            return dict(pull)
    return None


async def upsert_draft_pull(
    session: Session, branch: str, base_branch: str, title: str, body: str,
    existing: dict[str, Any] | None = None, *, listed: bool = False,
) -> tuple[dict[str, Any], str]:
    """Edit the open pull request from ``branch``, or open it as a draft. (pull, "opened"|"updated").
    ``listed``: ``existing`` is that pull request (or None) as listed earlier in the job, so the
    list is not read again; one closed since is left closed and a new one opened, and one
    opened since (GitHub refuses a second) is found and edited."""
    _guard(branch, base_branch)
    if not listed:
        existing = await open_pull(session, branch)
    if existing is not None:
        pull = await _edit_pull(session, existing, title, body)
        if pull.get("dry_run") or pull.get("state", "open") == "open":
            return (existing if pull.get("dry_run") else pull), "updated"
    opened: list[bool] = [True]

    async def edit(found: dict[str, Any]) -> dict[str, Any]:  # opened meanwhile, or before a lost answer
        if found.get("title") == session.writes.as_posted(title) and found.get("body") == session.writes.as_posted(body):
            return found  # this very write, applied before its answer was lost
        opened[0] = False
        return await _edit_pull(session, found, title, body)

    pull = await session.writes.create(
        f"/repos/{session.repo}/pulls",
        {"title": title, "head": branch, "base": base_branch, "body": body, "draft": True},
        find=lambda: open_pull(session, branch), update=edit, exists=True,
    )
    return pull, "opened" if opened[0] else "updated"


async def _edit_pull(session: Session, pull: dict[str, Any], title: str, body: str) -> dict[str, Any]:
    return await session.writes.request("PATCH", f"/repos/{session.repo}/pulls/{pull['number']}", {"title": title, "body": body})
