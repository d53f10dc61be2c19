"""The implementation phase's Git Data API work: read the default branch's head, write a tree
(small text files inline, others as blobs) and a commit on top of it, point the bot's own branch
at the commit, open or edit its draft pull request.

Every write goes through ``ctx.writes`` (dry-run prints it). Nothing here can write the default
branch: ``point_branch`` only accepts the bot's own ``model-routing/`` branches. The branch is the
bot's alone, so moving it is a forced update, and the pull request is found by its head so a
second approval edits it instead of opening another.

Round trips are what the job waits for: the head and its tree are read concurrently (and checked
against each other while the tree is written), the branch and its pull request are read once, up
front, and the writes use what was read, reading again only if GitHub says it changed meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.edits import Change, TreeItem
from bot.github import get_json, get_json_or_none, http_status
from bot.repo_context import started

if TYPE_CHECKING:
    from bot.context import Context

BRANCH_PREFIX = "model-routing/"
INLINE_MAX_BYTES = 100_000  # per file sent as tree content: small enough for one request
INLINE_MAX_TOTAL = 1_000_000  # all inline content of one tree request; the rest as blobs


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
    paired: bool = False  # the tree was read by the head's SHA: no need to check the pair

    def files(self) -> list[str]:
        return [path for path, item in self.items.items() if item.type == "blob"]




class BaseMoved(RuntimeError):
    """The branch moved between reading its head and reading its tree: the two do not belong
    together, so nothing may be built on them."""


async def read_base(ctx: Context, branch: str) -> BaseSnapshot | None:
    """Head commit and recursive tree listing of ``branch``, read concurrently (the tree by the
    branch's name, so neither waits for the other); None when the branch does not exist. A push
    between the two reads would pair a head with another commit's tree: ``write_commit`` checks
    the pair (``check_base``) while it writes, before anything points at the result."""
    ref, tree = await asyncio.gather(
        get_json_or_none(ctx.gh, f"/repos/{ctx.repo}/git/ref/heads/{quote(branch)}"),
        get_json_or_none(ctx.gh, f"/repos/{ctx.repo}/git/trees/{quote(branch)}", {"recursive": "1"}),
    )
    if not isinstance(ref, dict) or not ref.get("object"):
        return None
    head = str(ref["object"]["sha"])
    paired = not isinstance(tree, dict)
    if paired:  # a name the trees endpoint did not resolve: by the head's SHA
        tree = await get_json(ctx.gh, f"/repos/{ctx.repo}/git/trees/{head}", {"recursive": "1"})
    items = {
        str(e["path"]): TreeItem(str(e.get("mode", "")), str(e.get("type", "")), e.get("size"), str(e.get("sha", "")))
        for e in tree.get("tree") or []
        if isinstance(e, dict) and e.get("path")
    }
    return BaseSnapshot(branch, head, str(tree["sha"]), items, bool(tree.get("truncated")), paired)


async def check_base(ctx: Context, base: BaseSnapshot) -> None:
    """Raise ``BaseMoved`` unless ``base.tree_sha`` is the tree of ``base.head_sha`` (the trees
    endpoint resolves a commit SHA to its tree; not recursive: only the root's SHA is needed)."""
    if base.paired:
        return
    tree = await get_json(ctx.gh, f"/repos/{ctx.repo}/git/trees/{base.head_sha}")
    if str(tree.get("sha")) != base.tree_sha:
        raise BaseMoved(f"`{base.branch}` moved while it was read (head {base.head_sha[:12]}, "
                        f"tree {base.tree_sha[:12]} of another commit)")


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
    ctx: Context, base: BaseSnapshot, changes: list[Change], message: str, concurrency: int
) -> str:
    """One tree over the base tree (small text inline, other contents as blobs first, deletions
    as ``sha: null``) and one commit whose parent is the base head. Returns the commit SHA.
    The base's head and tree are checked against each other while the tree is written (a tree
    nothing points at is harmless); ``BaseMoved`` stops it before the commit."""
    gate = asyncio.Semaphore(concurrency)
    inline_left = INLINE_MAX_TOTAL

    async def entry(change: Change, inline: bool) -> dict[str, Any]:
        item = {"path": change.path, "mode": change.mode, "type": "blob"}
        if change.content is None:
            return {**item, "sha": None}
        if inline:
            return {**item, "content": change.content}
        async with gate:
            made = await ctx.writes.request(
                "POST", f"/repos/{ctx.repo}/git/blobs", {"content": change.content, "encoding": "utf-8"}
            )
        return {**item, "sha": made["sha"]}

    plan: list[tuple[Change, bool]] = []
    for change in changes:
        inline = _inline(change) and change.size <= inline_left
        inline_left -= change.size if inline else 0
        plan.append((change, inline))
    async with started(check_base(ctx, base)) as checked:
        entries = await asyncio.gather(*(entry(c, inline) for c, inline in plan))
        tree = await ctx.writes.request(
            "POST", f"/repos/{ctx.repo}/git/trees", {"base_tree": base.tree_sha, "tree": list(entries)}
        )
        assert checked is not None
        await checked
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


async def point_branch(
    ctx: Context, branch: str, sha: str, default_branch: str, head: str | None = None, *, known: bool = False
) -> str:
    """Create the bot's branch at ``sha``, or force-move it there. Returns "created" or "moved".
    ``known``: ``head`` is the branch's head as read earlier in the job (None: no branch), so no
    read is needed; if GitHub says that changed meanwhile, the branch is read and written again."""
    _guard(branch, default_branch)
    if not known:
        head = await branch_head(ctx, branch)
    try:
        return await _point(ctx, branch, sha, exists=head is not None)
    except Exception as exc:
        if not known or http_status(exc) != 422:
            raise
    return await _point(ctx, branch, sha, exists=await branch_head(ctx, branch) is not None)


async def _point(ctx: Context, branch: str, sha: str, *, exists: bool) -> str:
    if not exists:
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
    ctx: Context, branch: str, base_branch: str, title: str, body: str,
    existing: dict[str, Any] | None = None, *, listed: bool = False,
) -> tuple[dict[str, Any], str]:
    """Edit the open pull request from ``branch``, or open it as a draft. (pull, "opened"|"updated").
    ``listed``: ``existing`` is that pull request (or None) as listed earlier in the job, so the
    list is not read again; one closed since is left closed and a new one opened, and one
    opened since (GitHub refuses a second) is found and edited."""
    _guard(branch, base_branch)
    if not listed:
        existing = await open_pull(ctx, branch)
    if existing is not None:
        pull = await _edit_pull(ctx, existing, title, body)
        if pull.get("dry_run") or pull.get("state", "open") == "open":
            return (existing if pull.get("dry_run") else pull), "updated"
    try:
        pull = await ctx.writes.request(
            "POST",
            f"/repos/{ctx.repo}/pulls",
            {"title": title, "head": branch, "base": base_branch, "body": body, "draft": True},
        )
    except Exception as exc:
        again = await open_pull(ctx, branch) if listed and http_status(exc) == 422 else None
        if again is None:
            raise
        return await _edit_pull(ctx, again, title, body), "updated"
    return pull, "opened"


async def _edit_pull(ctx: Context, pull: dict[str, Any], title: str, body: str) -> dict[str, Any]:
    return await ctx.writes.request("PATCH", f"/repos/{ctx.repo}/pulls/{pull['number']}", {"title": title, "body": body})
