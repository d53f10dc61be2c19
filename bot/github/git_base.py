"""The default branch as the implementation phase builds on it: its head commit and its tree.

Read in one round trip: the head by its ref and the recursive tree listing by the branch's name,
concurrently. The tree's own SHA (what a new tree is based on) is computed from the listing's
top-level entries exactly as git hashes a tree object, so nothing depends on which SHA GitHub
echoes at the top of a tree listing (the one asked for, or the tree's). The pair is confirmed
against the head commit while the new tree is written (``confirm_base``): a push between the
two reads, or a listing that cannot be hashed (truncated, a name git spells in other bytes), is
caught before any commit points at the result.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.answers.edits import TreeItem
from bot.github.rest import get_json, get_json_or_none

if TYPE_CHECKING:
    from bot.github.session import Session


class BaseMoved(RuntimeError):
    """The branch moved between reading its head and reading its tree: the two do not belong
    together, so nothing may be built on them."""


@dataclass(frozen=True)
class BaseSnapshot:
    """The default branch as it stood when the job read it; everything is built on this."""

    branch: str
    head_sha: str
    tree_sha: str  # "" when the listing cannot name it (truncated): confirmed before use
    items: dict[str, TreeItem]  # every entry of the recursive tree, by path
    truncated: bool  # GitHub cut the recursive listing short (very large repositories)

    def files(self) -> list[str]:
        return [path for path, item in self.items.items() if item.type == "blob"]


def _items(listing: dict[str, Any]) -> dict[str, TreeItem]:
    return {
        str(e["path"]): TreeItem(str(e.get("mode", "")), str(e.get("type", "")), e.get("size"), str(e.get("sha", "")))
        for e in listing.get("tree") or []
        if isinstance(e, dict) and e.get("path")
    }


def root_tree_sha(items: dict[str, TreeItem]) -> str:
    """The SHA git gives the tree whose entries are the listing's top-level ones: entries ordered
    by name bytes (a directory as if its name ended in "/"), each ``<mode> <name>\\0<raw sha>``
    with the mode's leading zero dropped ("040000" -> "40000"), hashed as ``tree <size>\\0...``."""
    top = [(path, item) for path, item in items.items() if "/" not in path]
    top.sort(key=lambda e: e[0].encode() + (b"/" if e[1].type == "tree" else b""))
    body = b"".join(f"{item.mode.lstrip('0')} {path}\0".encode() + bytes.fromhex(item.sha) for path, item in top)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def _named_tree(items: dict[str, TreeItem], truncated: bool) -> str:
    if truncated:
        return ""
    try:
        return root_tree_sha(items)
    except ValueError:  # an entry without a SHA: let confirm_base name the tree
        return ""


async def read_base(session: Session, branch: str) -> BaseSnapshot | None:
    """Head commit and recursive tree listing of ``branch``, read concurrently; None when the
    branch does not exist."""
    ref, listing = await asyncio.gather(
        get_json_or_none(session.gh, f"/repos/{session.repo}/git/ref/heads/{quote(branch)}"),
        get_json_or_none(session.gh, f"/repos/{session.repo}/git/trees/{quote(branch)}", {"recursive": "1"}),
    )
    if not isinstance(ref, dict) or not ref.get("object"):
        return None
    head = str(ref["object"]["sha"])
    if not isinstance(listing, dict):  # a name the trees endpoint did not resolve: by the head
        listing = await get_json(session.gh, f"/repos/{session.repo}/git/trees/{head}", {"recursive": "1"})
    items, truncated = _items(listing), bool(listing.get("truncated"))
    return BaseSnapshot(branch, head, _named_tree(items, truncated), items, truncated)


async def read_at(session: Session, sha: str) -> BaseSnapshot:
    """The tree of one commit, to read files at it (never to build on: its tree SHA is not named)."""
    listing = await get_json(session.gh, f"/repos/{session.repo}/git/trees/{sha}", {"recursive": "1"})
    return BaseSnapshot(sha, sha, "", _items(listing), bool(listing.get("truncated")))


async def confirm_base(session: Session, base: BaseSnapshot) -> BaseSnapshot:
    """``base``, its tree SHA the one its head commit names. When that is not the SHA computed
    from the listing, the tree is listed again by it and must have exactly the same entries:
    then only the name was missing or spelt differently, and the snapshot holds; otherwise the
    branch moved between the two reads and ``BaseMoved`` is raised."""
    commit = await get_json(session.gh, f"/repos/{session.repo}/git/commits/{base.head_sha}")
    tree_sha = str(commit["tree"]["sha"])
    if tree_sha == base.tree_sha:
        return base
    again = await get_json(session.gh, f"/repos/{session.repo}/git/trees/{tree_sha}", {"recursive": "1"})
    if _items(again) != base.items:
        raise BaseMoved(f"`{base.branch}` moved while it was read: its head {base.head_sha[:12]} "
                        f"has tree {tree_sha[:12]}, not the one listed")
    return replace(base, tree_sha=tree_sha)
