"""The whole-change prompt of a pull request review: read, count, pack, and say what was read.

1. The file list (every page at once) and the head's tree are read concurrently
   (``bot.prompts.review_reads``: the handler begins them in the same round trip as its own
   reads). As each page arrives a worker thread renders and counts a sample of its diffs
   (``packing.sample_every``; the rest are estimated from the sample and rendered later, while
   the context files are read) and notes which diffs show their whole head file; the tree's
   paths are counted as it arrives.
2. When the whole diff fits the chosen window (less the output reserve and the fixed prompt),
   the rest of the room goes to the full head versions of changed files (not those the diff
   already shows whole), then to related unchanged files, chosen by their tree sizes before
   any is fetched (``bot.prompts.related_files``).
3. When it does not fit even the largest window, the diff is cut into chunks (whole files in
   GitHub's path order; a file bigger than a chunk at hunk, then line, boundaries) and every
   chunk is reviewed on its own; the caller merges the answers.
4. Every prompt is then counted as the router counts it; one over its room sheds context
   files (or is cut in two, for a chunk) and is counted again. Those counts are the coverage's.
5. A prompt is ordered stable-first (``bot.prompts.review_blocks``): system text, tree, diff, then
   the context files, the pull request's title and description and the question, so the review
   of a later push (``bot.prompts.review_delta``) can start with the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from bot.answers.findings import ReviewReply
from bot.config import Phase
from bot.github.diffmap import DiffMap
from bot.github.pull_reads import MAX_LISTED_FILES, ChangedFile, FileList, PullInfo, RepoTree
from bot.llm import structured
from bot.llm.plan import ESCALATION_PROFILE
from bot.prompts import packing
from bot.prompts.packing import Count, Coverage, Piece
from bot.prompts.related_files import add_extras
from bot.prompts.review_blocks import diff_block, review_messages, stable_blocks, system_text, tree_budget_for
from bot.prompts.review_pieces import render_rest, split_piece
from bot.prompts.review_reads import Reading, start, with_tree
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context
    from bot.llm.model_router import ModelRouter


Shape = Callable[[Sequence[Piece], str, str, str], Awaitable["Prompt"]]  # pieces, part, others, label


@dataclass(frozen=True)
class Prompt:
    """One model call: its messages, their counted tokens, and which part of the change."""

    messages: list[dict[str, Any]]
    tokens: int  # as the router counts them (JSON instructions included)
    label: str = ""
    pieces: tuple[Piece, ...] = ()


@dataclass
class ReviewInput:
    pull: PullInfo
    files: FileList
    prompts: list[Prompt]
    coverage: Coverage
    profile: str

    @property
    def chunked(self) -> bool:
        return len(self.prompts) > 1

    @cached_property
    def diffmap(self) -> DiffMap:
        """Where findings may go inline: only needed once the model has answered, so it is
        built then (or in a thread while the model is called), not before the first call."""
        return DiffMap({f.path: f.patch for f in self.files.files})


def _messages(ctx: Context, phase: Phase, pull: PullInfo, tree_text: str, tree: tuple[int, int],
              pieces: Sequence[Piece], part: str, others: str) -> list[dict[str, Any]]:
    diffs = [p for p in pieces if p.kind == "diff"]
    context = [p.text for p in pieces if p.kind != "diff"]
    rest = render("prompts/review_full.md.j2", pull=pull, context=context, part=part, others=others)
    cut = tree[0] < tree[1]
    if part:  # a chunk: only the tree is shared with the other chunks
        stable = stable_blocks(ctx, pull.number, pull.head_sha, tree_text, cut, None)
        return review_messages(system_text(ctx, phase), stable, [diff_block(pull.head_sha, diffs, part), rest])
    stable = stable_blocks(ctx, pull.number, pull.head_sha, tree_text, cut, diffs)
    return review_messages(system_text(ctx, phase), stable, [rest])


def choose_window(router: ModelRouter, labels: Sequence[str], needed: int, reserve: int) -> tuple[str, int]:
    """The routed profile's window; the widest profile's when the prompt needs more (the router
    escalates the same way; it never goes to a smaller window)."""
    profile = router.decide(router.phase, labels=labels).profile
    window = router.window(profile)
    if needed + reserve > window and router.window(ESCALATION_PROFILE) > window:
        return ESCALATION_PROFILE, router.window(ESCALATION_PROFILE)
    return profile, window


async def assemble_review(ctx: Context, pull: PullInfo, router: ModelRouter, reading: Reading | None = None) -> ReviewInput:
    if reading is None:
        reading = start(ctx, pull, router.count_tokens)
    elif reading.sha != pull.head_sha or reading.tree is None:  # pushed since the webhook: the tree is not current
        reading.cancel_tree()
        reading = with_tree(ctx, pull.head_sha, router.count_tokens, reading.listing)
    rendering: asyncio.Future[list[Piece]] | None = None
    try:
        listed, drafts = await reading.listing
        # the diffs not rendered yet are rendered while the tree, then the context files, are read
        rendering = asyncio.ensure_future(asyncio.to_thread(render_rest, listed.files, drafts))
        assert reading.tree is not None and reading.tree_tokens is not None  # with_tree started them
        tree = await reading.tree
        return await _assemble(ctx, pull, router, listed, drafts, rendering, tree, reading.tree_tokens)
    finally:
        reading.cancel()
        if rendering is not None:
            rendering.cancel()


async def _assemble(ctx: Context, pull: PullInfo, router: ModelRouter, listed: FileList, drafts: list[Piece],
                    rendering: Awaitable[list[Piece]], tree: RepoTree, all_paths: Awaitable[int]) -> ReviewInput:
    count: Count = router.count_tokens
    reserve = ctx.config.limits.output_reserve_tokens
    files = listed.files
    diffs = drafts  # tokens counted or estimated; texts once ``rendering`` is done
    changed = [f.path for f in files]
    diff_total = sum(p.tokens for p in diffs)
    profile, window = choose_window(router, pull.labels, diff_total, reserve)
    room = window - reserve - packing.margin(window)
    paths = [t.path for t in tree.files]
    tree_budget = tree_budget_for(window, reserve)
    listing = asyncio.ensure_future(_tree_listing(paths, changed, tree_budget, count, all_paths))
    coverage = Coverage(files_changed=max(pull.changed_files, len(files)), files_listed=len(files),
                        window=window, reserve=reserve, tree_total=len(paths))
    # the context files' fetch need not wait for the tree's listing to be counted: the listing
    # takes at most its cap, and paths run to at least ~2 characters a token; a fetch budget a
    # little over the room only costs a read, since what is taken is decided on exact counts
    bare = (await _prompt(ctx, router, pull, "", (0, len(paths)), [], "", "", "")).tokens
    tree_most = min(tree_budget, sum(len(p) + 1 for p in paths) // 2)
    early_room = room - bare - tree_most - diff_total
    exact_room: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    early = (asyncio.ensure_future(add_extras(ctx, count, files, tree, exact_room, coverage, fetch_budget=early_room))
             if early_room > 0 else None)
    try:
        tree_text, tree_tokens, shown = await listing
        tree_info = (shown, len(paths))
        shape = partial(_prompt, ctx, router, pull, tree_text, tree_info)
        fixed = bare + tree_tokens  # give or take the joins: the margin's; every prompt is counted whole
        usable = max(1, room - fixed)
        coverage.tree_paths = shown
        note_listing(coverage, listed, files, tree, shown)
        prompts: list[Prompt] | None = None
        if diff_total <= usable:
            noted = len(coverage.left_out)
            exact_room.set_result(usable - diff_total)
            extras = await (early or add_extras(ctx, count, files, tree, usable - diff_total, coverage))
            diffs = await rendering
            prompts = await _whole(shape, diffs, extras, room, coverage)
            if prompts is None:  # counted, the diff alone is over after all: chunks, without extras
                del coverage.left_out[noted:]
                coverage.whole_in_diff = 0
    finally:
        listing.cancel()
        if early is not None and not early.done():
            early.cancel()
    if prompts is None:
        prompts = await _chunked(shape, files, await rendering, usable, room, count)
        coverage.left_out.append(
            f"full head versions and related files: the diff alone (about {diff_total:,} tokens) is larger than "
            f"the {window:,}-token window, so it was reviewed in {len(prompts)} chunks of the diff only")
    sent = [p for prompt in prompts for p in prompt.pieces]
    with_patch = {f.path for f in files if f.patch is not None}
    coverage.files_read = len({p.path for p in sent if p.kind == "diff" and p.path in with_patch})
    coverage.lines_read = sum(p.lines for p in sent if p.kind == "diff")
    coverage.head_files = sum(1 for p in sent if p.kind == "head") + coverage.whole_in_diff
    coverage.related_files = sum(1 for p in sent if p.kind == "related")
    coverage.tokens = sum(p.tokens for p in prompts)
    coverage.chunks = len(prompts)
    return ReviewInput(pull, listed, prompts, coverage, profile)


async def _tree_listing(paths: list[str], changed: list[str], budget: int, count: Count,
                        all_paths: Awaitable[int]) -> tuple[str, int, int]:
    return await asyncio.to_thread(packing.tree_listing, paths, changed, budget, count, await all_paths)


async def _prompt(ctx: Context, router: ModelRouter, pull: PullInfo, tree_text: str, tree: tuple[int, int],
                  pieces: Sequence[Piece], part: str, others: str, label: str) -> Prompt:
    """One prompt, counted as the router will count it: chat format and JSON instructions included."""
    messages = _messages(ctx, router.phase, pull, tree_text, tree, pieces, part, others)
    sized = structured.with_instructions(messages, ReviewReply, native=False)
    return Prompt(messages, await asyncio.to_thread(router.count_tokens, sized), label, tuple(pieces))


async def _whole(shape: Shape, diffs: list[Piece], extras: list[Piece], room: int, coverage: Coverage) -> list[Prompt] | None:
    """The one prompt of the whole change; context files (lowest priority first) shed while its
    count is over the room. None when the diff alone is over."""
    async def build(kept: list[Piece]) -> tuple[Prompt, int]:
        prompt = await shape(diffs + kept, "", "", "")
        return prompt, prompt.tokens

    prompt, _, _, shed = await packing.shed_to_fit(build, extras, room)
    if shed:
        coverage.left_out.append(f"{packing.plural(shed, 'more context file')}: the prompt, counted, was over its estimate")
    return [prompt] if prompt.tokens <= room else None


async def _chunked(shape: Shape, files: Sequence[ChangedFile], diffs: Sequence[Piece], usable: int, room: int,
                   count: Count) -> list[Prompt]:
    """Chunks of the diff, each prompt counted; a chunk over its room is cut in two."""
    pieces: list[Piece] = []
    for f, piece in zip(files, diffs, strict=True):
        if not piece.exact and piece.tokens > usable // 2:  # near the size of a chunk: know it exactly
            piece = replace(piece, tokens=await asyncio.to_thread(count, piece.text), exact=True)
        pieces += await asyncio.to_thread(split_piece, f, usable, count) if piece.tokens > usable else [piece]
    chunks = packing.chunk_pieces(pieces, usable)
    while True:
        n = len(chunks)
        prompts = list(await asyncio.gather(*(
            shape(chunk, f"part {i} of {n}" if n > 1 else "",
                  f"The other parts cover the rest of the {len(files):,} changed files." if n > 1 else "",
                  f"Part {i} of {n} ({packing.summarise_paths(_paths(chunk), 2)})" if n > 1 else "")
            for i, chunk in enumerate(chunks, 1))))
        over = [i for i, p in enumerate(prompts) if p.tokens > room and len(chunks[i]) > 1]
        if not over:
            return prompts
        for i in reversed(over):
            half = len(chunks[i]) // 2
            chunks[i : i + 1] = [chunks[i][:half], chunks[i][half:]]


def _paths(chunk: Sequence[Piece]) -> list[str]:
    seen: dict[str, None] = {}
    for p in chunk:
        seen.setdefault(p.path, None)
    return list(seen)


def note_listing(coverage: Coverage, listed: FileList, files: Sequence[ChangedFile], tree: RepoTree, shown: int) -> None:
    if listed.not_listed and listed.capped:
        coverage.left_out.append(
            f"{packing.plural(listed.not_listed, 'changed file')}: GitHub's files API lists at most "
            f"{MAX_LISTED_FILES:,} files of a pull request, so these were not seen")
    elif listed.not_listed:
        coverage.left_out.append(
            f"{packing.plural(listed.not_listed, 'changed file')}: the pull request changed while the bot "
            f"read it (GitHub listed {len(files):,} files of the {len(files) + listed.not_listed:,} it counted)")
    no_patch = [f.path for f in files if f.patch is None and f.status != "renamed"]
    if no_patch:
        coverage.left_out.append(
            f"the diff of {packing.plural(len(no_patch), 'file')} (binary, or too large for GitHub to show): "
            + packing.summarise_paths(no_patch))
    if tree.truncated:
        coverage.left_out.append("part of the repository tree: GitHub truncated the listing of this large repository")
    if shown < len(tree.files):
        coverage.left_out.append(
            f"{len(tree.files) - shown:,} of {len(tree.files):,} paths of the repository tree, to keep room for the change")
