"""The reads of a review, started early: the pull request's file list (each page rendered as it
arrives) and the tree at its head, so the handler can begin them in the same round trip as its
own reads and ``bot.prompts.review_prompt.assemble_review`` finishes them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.github.pull_reads import FileList, PullInfo, RepoTree, read_tree
from bot.prompts.packing import Count, Piece
from bot.prompts.review_pieces import listed_pieces

if TYPE_CHECKING:
    from bot.dispatch.context import Context


@dataclass
class Reading:
    """The change's reads, started: the file list (each page rendered as it arrives) and the
    tree at ``sha``, its paths counted as soon as it arrives (while the file list's last pages
    are still on their way). ``start`` makes one; ``assemble_review`` finishes it."""

    sha: str
    listing: asyncio.Task[tuple[FileList, list[Piece]]]
    tree: asyncio.Task[RepoTree] | None  # None: not started (a push may need another commit's)
    tree_tokens: asyncio.Future[int] | None  # of every path, one a line: what the prompt's tree shows when it fits

    def cancel(self) -> None:
        """Stop what is still in flight (the review was skipped or failed); a read that failed
        meanwhile has its error collected here rather than reported as never retrieved."""
        for task in (self.listing, self.tree, self.tree_tokens):
            if task is None:
                continue
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()

    async def file_list(self) -> FileList:
        return (await self.listing)[0]

    def cancel_tree(self) -> None:
        for task in (self.tree, self.tree_tokens):
            if task is not None:
                task.cancel()


def start(ctx: Context, pull: PullInfo, count: Count, tree: bool = True) -> Reading:
    """Begin reading the change now (``pull`` may come from the webhook: its head SHA and file
    count are all the reads need), so they share a round trip with whatever the caller reads.
    Without ``tree``, only the file list: a review of a push reads the tree of another commit."""
    listing = asyncio.ensure_future(listed_pieces(ctx, pull, count, render_all=False))
    return with_tree(ctx, pull.head_sha, count, listing) if tree else Reading(pull.head_sha, listing, None, None)


def with_tree(ctx: Context, sha: str, count: Count, listing: asyncio.Task[tuple[FileList, list[Piece]]]) -> Reading:
    tree = asyncio.ensure_future(read_tree(ctx.session, sha))

    async def tree_tokens() -> int:
        paths = [t.path for t in (await tree).files]
        return await asyncio.to_thread(count, "\n".join(paths)) if paths else 0

    return Reading(sha, listing, tree, asyncio.ensure_future(tree_tokens()))
