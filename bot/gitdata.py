"""The implementation phase's Git Data API work: read the default branch's head, write blobs, a
tree and a commit on top of it, point the bot's own branch at the commit, open or edit its
draft pull request.

Every write goes through ``ctx.writes`` (dry-run prints it). Nothing here can write the default
branch: ``point_branch`` only accepts the bot's own ``model-routing/`` branches. The branch is the
bot's alone, so moving it is a forced update, and the pull request is found by its head so a
second approval edits it instead of opening another.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.edits import Change, TreeItem
from bot.github import get_json, get_json_or_none

if TYPE_CHECKING:
    from bot.context import Context

BRANCH_PREFIX = "model-routing/"


class BranchGuardError(RuntimeError):
    """A write aimed at a branch that is not the bot's own: a bug, never done."""


def branch_for(issue: int) -> str:
    return f"{BRANCH_PREFIX}issue-{issue}"


@dataclass(frozen=True)
class BaseSnapshot:
    """The default branch as it stood when the job read it; everything is built on this."""

    branch: str
    head_sha: str
    tree_sha: str
    items: dict[str, TreeItem]  # every entry of the recursive tree, by path
    truncated: bool  # GitHub cut the recursive listing short (very large repositories)

    def files(self) -> list[str]:
        return [path for path, item in self.items.items() if item.type == "blob"]




async def read_base(ctx: Context, branch: str) -> BaseSnapshot:
    """Head commit, its tree, and the recursive tree listing of ``branch``."""
    ref = await get_json(ctx.gh, f"/repos/{ctx.repo}/git/ref/heads/{quote(branch)}")
    head = str(ref["object"]["sha"])
    commit = await get_json(ctx.gh, f"/repos/{ctx.repo}/git/commits/{head}")
    tree_sha = str(commit["tree"]["sha"])
    tree = await get_json(ctx.gh, f"/repos/{ctx.repo}/git/trees/{tree_sha}", {"recursive": "1"})
    items = {
        str(e["path"]): TreeItem(str(e.get("mode", "")), str(e.get("type", "")), e.get("size"), str(e.get("sha", "")))
        for e in tree.get("tree") or []
        if isinstance(e, dict) and e.get("path")
    }
    return BaseSnapshot(branch, head, tree_sha, items, bool(tree.get("truncated")))


async def read_files(ctx: Context, base: BaseSnapshot, paths: list[str], concurrency: int) -> dict[str, bytes]:
    """The content of each existing file, by blob SHA (so it is the head's content even if the
    branch moves meanwhile), ``concurrency`` reads at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> tuple[str, bytes | None]:
        item = base.items.get(path)
        if item is None or item.type != "blob" or not item.sha:
            return path, None
        async with gate:
            data = await get_json(ctx.gh, f"/repos/{ctx.repo}/git/blobs/{item.sha}")
        if data.get("encoding") == "base64":
            return path, base64.b64decode(data.get("content") or "")
        return path, str(data.get("content") or "").encode()

    found = await asyncio.gather(*(one(p) for p in dict.fromkeys(paths)))
    return {path: content for path, content in found if content is not None}


async def write_commit(
    ctx: Context, base: BaseSnapshot, changes: list[Change], message: str, concurrency: int
) -> str:
    """Blobs for the new contents, one tree over the base tree (deletions as ``sha: null``) and
    one commit whose parent is the base head. Returns the commit SHA."""
    gate = asyncio.Semaphore(concurrency)

    async def blob(change: Change) -> dict[str, Any]:
        if change.content is None:
            return {"path": change.path, "mode": change.mode, "type": "blob", "sha": None}
        async with gate:
            made = await ctx.writes.request(
                "POST", f"/repos/{ctx.repo}/git/blobs", {"content": change.content, "encoding": "utf-8"}
            )
        return {"path": change.path, "mode": change.mode, "type": "blob", "sha": made["sha"]}

    entries = await asyncio.gather(*(blob(c) for c in changes))
    tree = await ctx.writes.request(
        "POST", f"/repos/{ctx.repo}/git/trees", {"base_tree": base.tree_sha, "tree": list(entries)}
    )
    commit = await ctx.writes.request(
        "POST",
        f"/repos/{ctx.repo}/git/commits",
        {"message": message, "tree": tree["sha"], "parents": [base.head_sha]},
    )
    return str(commit["sha"])


def _guard(branch: str, default_branch: str) -> None:
    if not branch.startswith(BRANCH_PREFIX) or branch == default_branch or ".." in branch:
        raise BranchGuardError(f"refusing to write branch {branch!r}: only the bot's own {BRANCH_PREFIX}* branches")


async def branch_head(ctx: Context, branch: str) -> str | None:
    ref = await get_json_or_none(ctx.gh, f"/repos/{ctx.repo}/git/ref/heads/{quote(branch)}")
    return str(ref["object"]["sha"]) if isinstance(ref, dict) and ref.get("object") else None


async def commit_message(ctx: Context, sha: str) -> str:
    data = await get_json_or_none(ctx.gh, f"/repos/{ctx.repo}/git/commits/{sha}")
    return str((data or {}).get("message") or "")


async def point_branch(ctx: Context, branch: str, sha: str, default_branch: str) -> str:
    """Create the bot's branch at ``sha``, or force-move it there. Returns "created" or "moved"."""
    _guard(branch, default_branch)
    if await branch_head(ctx, branch) is None:
        await ctx.writes.request("POST", f"/repos/{ctx.repo}/git/refs", {"ref": f"refs/heads/{branch}", "sha": sha})
        return "created"
    await ctx.writes.request(
        "PATCH", f"/repos/{ctx.repo}/git/refs/heads/{quote(branch)}", {"sha": sha, "force": True}
    )
    return "moved"


async def open_pull(ctx: Context, branch: str) -> dict[str, Any] | None:
    """The open pull request whose head is the bot's branch in this repository."""
    pulls = await get_json(ctx.gh, f"/repos/{ctx.repo}/pulls", {"head": f"{ctx.owner}:{branch}", "state": "open"})
    for pull in pulls if isinstance(pulls, list) else []:
        if (pull.get("head") or {}).get("ref") == branch:
            return dict(pull)
    return None


async def upsert_draft_pull(
    ctx: Context, branch: str, base_branch: str, title: str, body: str
) -> tuple[dict[str, Any], str]:
    """Edit the open pull request from ``branch``, or open it as a draft. (pull, "opened"|"updated")."""
    _guard(branch, base_branch)
    existing = await open_pull(ctx, branch)
    if existing is not None:
        pull = await ctx.writes.request(
            "PATCH", f"/repos/{ctx.repo}/pulls/{existing['number']}", {"title": title, "body": body}
        )
        return (existing if pull.get("dry_run") else pull), "updated"
    pull = await ctx.writes.request(
        "POST",
        f"/repos/{ctx.repo}/pulls",
        {"title": title, "head": branch, "base": base_branch, "body": body, "draft": True},
    )
    return pull, "opened"
