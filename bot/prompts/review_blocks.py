"""What opens every review prompt of a pull request, and how a prompt is cut into content blocks.

The opening (system text, the repository tree and, when there is room, the pull request's diff,
all as of one head) holds nothing that changes with a later push: no counts, no dates, no title.
An incremental review built on that head (``bot.prompts.review_delta``) renders it again from
the same reads and starts with the same bytes, so a provider that caches prompt prefixes serves
them from its cache; each of these blocks ends in a cache breakpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.config import Phase
from bot.prompts import packing
from bot.prompts.packing import Piece
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context

CACHE_MARK = {"type": "ephemeral"}  # a cache breakpoint as litellm carries it to Anthropic and Gemini


def system_text(ctx: Context, phase: Phase) -> str:
    return render("prompts/review_system.md.j2", repo=ctx.repo, instructions=ctx.config.instructions.get(phase, ""))


def stable_blocks(ctx: Context, number: int, sha: str, tree_text: str, tree_cut: bool,
                  diffs: Sequence[Piece] | None) -> list[str]:
    """What opens every review prompt of the pull request as it was at ``sha``: the repository
    tree, then (when given) the pull request's diff. Nothing here changes with a later push (no
    counts, no dates, no title): an incremental review built on ``sha`` starts with the same
    bytes, so a provider that caches prompt prefixes serves them from its cache."""
    blocks = [render("prompts/review_tree.md.j2", repo=ctx.repo, number=number, sha=sha, tree=tree_text, cut=tree_cut)]
    if diffs is not None:
        blocks.append(diff_block(sha, diffs))
    return blocks


def diff_block(sha: str, diffs: Sequence[Piece], part: str = "") -> str:
    return render("prompts/review_diff.md.j2", sha=sha, part=part, pieces=[p.text for p in diffs])


def review_messages(system: str, stable: Sequence[str], variable: Sequence[str]) -> list[dict[str, Any]]:
    """System text; a user message of the stable blocks, each ending in a cache breakpoint (the
    router sends breakpoints only to a model that caches prefixes); then a user message of what
    changes from one review to the next. Two messages, not one: litellm caches Gemini's prompt
    by whole messages (explicit context caching), so the part that changes must not share the
    cached one's message."""
    blocks = [{"type": "text", "text": text, "cache_control": CACHE_MARK} for text in stable]
    return [{"role": "system", "content": system}, {"role": "user", "content": blocks},
            {"role": "user", "content": "".join(variable)}]


def tree_budget_for(window: int, reserve: int) -> int:
    """The tokens a review packed for ``window`` gives the repository tree."""
    return int((window - reserve - packing.margin(window)) * packing.TREE_SHARE)
