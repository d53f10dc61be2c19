"""The prompt for ``/ask``: the issue or pull request, the repository tree, and as much of the
change and the repository as the window holds, with the same coverage accounting as a review.

On a pull request the diff comes first (whole files in GitHub's order, as many as fit; an answer
is one reply, so there are no chunks), then full head versions and related files. On an issue
the room goes to files the question or the issue names, then to the project's own description.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.config import Phase
from bot.github.issue_reads import IssueThread, issue_thread
from bot.github.pull_reads import FileList, read_pull, read_tree
from bot.prompts import packing
from bot.prompts.packing import Count, Coverage, Piece
from bot.prompts.related_files import add_extras
from bot.prompts.review_pieces import listed_pieces
from bot.prompts.review_prompt import choose_window, note_listing
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context
    from bot.llm.model_router import ModelRouter

# words that look like paths or file names: "bot/models.py", "README.md", "`Makefile`"
_PATHISH = re.compile(r"`([^`\s]+)`|([\w.-]+(?:/[\w.-]+)+|[\w-]+\.[A-Za-z][\w]{0,7})")


@dataclass(frozen=True)
class AskInput:
    messages: list[dict[str, Any]]
    coverage: Coverage
    labels: tuple[str, ...]


def mentioned_paths(*texts: str) -> list[str]:
    found: list[str] = []
    for text in texts:
        for match in _PATHISH.finditer(text or ""):
            found.append(match.group(1) or match.group(2))
    return found


def _messages(ctx: Context, phase: Phase, thread: IssueThread, question: str, asker: str, ref: str, tree_text: str,
              tree: tuple[int, int], pieces: Sequence[Piece]) -> list[dict[str, Any]]:
    system = render("prompts/ask_system.md.j2", repo=ctx.repo, instructions=ctx.config.instructions.get(phase, ""))
    user = render("prompts/ask_user.md.j2", repo=ctx.repo, thread=thread, question=question, asker=asker,
                  ref=ref, tree=tree_text, tree_shown=tree[0], tree_total=tree[1], pieces=[p.text for p in pieces])
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def assemble_ask(ctx: Context, number: int, question: str, asker: str, router: ModelRouter) -> AskInput:
    count: Count = router.count_tokens
    reserve = ctx.config.limits.output_reserve_tokens
    is_pull = ctx.event.is_pull_request
    pull = None
    if is_pull:
        thread, pull = await asyncio.gather(issue_thread(ctx.session, number), read_pull(ctx.session, number))
        ref = pull.head_sha
        (listed, diffs), tree = await asyncio.gather(listed_pieces(ctx, pull, count), read_tree(ctx.session, ref))
    else:
        ref = ctx.branch_hint or "HEAD"
        thread, tree = await asyncio.gather(issue_thread(ctx.session, number), read_tree(ctx.session, ref))
        listed, diffs = FileList([]), []
    files = listed.files
    labels = tuple(thread.labels)
    _, window = choose_window(router, labels, sum(p.tokens for p in diffs), reserve)
    room = window - reserve - packing.margin(window)
    paths = [t.path for t in tree.files]
    changed = [f.path for f in files]
    tree_text, _, shown = await asyncio.to_thread(
        packing.tree_listing, paths, changed, int(room * packing.TREE_SHARE), count)
    tree_info = (shown, len(paths))
    bare = _messages(ctx, router.phase, thread, question, asker, ref, tree_text, tree_info, [])
    fixed = await asyncio.to_thread(router.count_tokens, bare)
    usable = max(0, room - fixed)
    coverage = Coverage(files_changed=max(pull.changed_files if pull else 0, len(files)), files_listed=len(files),
                        window=window, reserve=reserve, tree_paths=shown, tree_total=len(paths))
    note_listing(coverage, listed, files, tree, shown)
    taken, dropped = packing.take_within(diffs, usable)
    if dropped:
        coverage.left_out.append(
            f"the diff of {packing.plural(len(dropped), 'file')} that did not fit the window: "
            + packing.summarise_paths([p.path for p in dropped]))
    used = sum(p.tokens for p in taken)
    mentioned = mentioned_paths(question, thread.body, *(c.body for c in thread.comments))
    extras = await add_extras(ctx, count, files, tree, usable - used, coverage, mentioned)
    coverage.files_read = sum(1 for p in taken if p.lines)
    coverage.lines_read = sum(p.lines for p in taken)
    # the pieces' tokens may be estimates (a large change is sampled): count the prompt as the
    # router will, and shed context files (lowest priority last) while it is over the room
    async def build(kept: list[Piece]) -> tuple[list[dict[str, Any]], int]:
        messages = _messages(ctx, router.phase, thread, question, asker, ref, tree_text, tree_info, taken + kept)
        return messages, await asyncio.to_thread(router.count_tokens, messages)

    messages, coverage.tokens, extras, _ = await packing.shed_to_fit(build, extras, room)
    coverage.head_files = sum(1 for p in extras if p.kind == "head") + coverage.whole_in_diff
    coverage.related_files = sum(1 for p in extras if p.kind == "related")
    return AskInput(messages, coverage, labels)
