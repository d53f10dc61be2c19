"""The prompt of an incremental review: what a push changed, with the pull request as reference.

Stable first (``bot.prompts.review_blocks``): the system text, the repository tree at the
*anchor* (the head the last full review read) and, when it is affordable, the pull request's
diff at the anchor, rendered exactly as that review rendered them (the same reads, the same tree
budget, GitHub's order), so this prompt starts with the bytes the previous review's prompt
started with and a provider that caches prompt prefixes serves them from its cache. Then what
changes: the push's diffs (compare API), the new versions of the files it changed, the pull
request's file list, the findings already reported, and the question.

The reference is capped so that a push costs a fraction of a review even when the provider's
cache misses: at the price of the model this prompt routes to, it costs at most
``limits.delta_reference_share`` of the review at the anchor. Within the cap: the whole tree and
the whole diff at the anchor; else that diff and as much of the tree as fits; else as much of the
tree as fits, and the pull request's whole diff of only the files the push changed.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from bot.answers.findings import ReviewReply
from bot.answers.reported import Reported, standing
from bot.github.diffmap import DiffMap
from bot.github.pull_reads import ChangedFile, FileList, PullInfo, RepoTree, list_files, read_texts, read_tree
from bot.llm import catalog, structured
from bot.prompts import packing
from bot.prompts.packing import Count
from bot.prompts.review_blocks import diff_block, review_messages, stable_blocks, system_text, tree_budget_for
from bot.prompts.review_pieces import content_text, diff_pieces, diff_text
from bot.prompts.review_prompt import Prompt, choose_window
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context
    from bot.github.review_history import Basis, ReviewRecord
    from bot.llm.model_router import ModelRouter

MAP_PATHS = 500  # a pull request's file list shown path by path up to this many, else by folder


@dataclass
class DeltaCoverage:
    """What an incremental review read: the push, and the reference beside it."""

    since: str  # "abc1234..def5678"
    anchor: str
    commits: int
    files_changed: int  # as the compare API lists them
    files_read: int = 0
    lines_read: int = 0
    head_files: int = 0  # new versions of changed files read whole
    reference_files: int = 0  # files of the pull request's diff at the anchor in the reference
    tree_paths: int = 0
    tree_total: int = 0
    pull_files: int = 0
    standing: int = 0  # earlier findings that still stand
    tokens: int = 0
    stable_tokens: int = 0  # of them, the reference a provider may serve from its cache
    window: int = 0
    reserve: int = 0
    chunks: int = 1
    left_out: list[str] = field(default_factory=list)


@dataclass
class DeltaInput:
    pull: PullInfo
    prompts: list[Prompt]
    coverage: DeltaCoverage
    files: list[ChangedFile]  # what the push changed
    pull_files: list[ChangedFile]  # what the pull request changes, at the new head
    texts: dict[str, str]  # the new text of each changed file that was read
    standing: list[Reported]
    record: ReviewRecord
    profile: str

    @cached_property
    def diffmap(self) -> DiffMap:
        return DiffMap({f.path: f.patch for f in self.files})


def reference_budget(router: ModelRouter, labels: Sequence[str], record: ReviewRecord, share: float) -> int:
    """Tokens of reference that cost ``share`` of the review at the anchor, at the input price of
    the model a prompt of this pull request routes to first."""
    spec = router.decide(router.phase, labels=labels).model
    price = catalog.prices(spec)[0]
    if record.usd > 0 and price > 0:
        return int(share * record.usd / price)
    return int(share * record.tokens)


async def assemble_delta(ctx: Context, pull: PullInfo, router: ModelRouter, basis: Basis,
                         listing: Awaitable[FileList] | None = None) -> DeltaInput | None:
    """The one prompt of a push's review; None when even the push's own diffs do not fit a
    window (the caller reviews the whole change instead)."""
    record, since, at_anchor = basis.record, basis.since, basis.at_anchor
    assert record is not None and since is not None and at_anchor is not None
    count: Count = router.count_tokens
    files = since.files
    tree_read = asyncio.ensure_future(read_tree(ctx.session, record.anchor))
    texts_read = asyncio.ensure_future(read_texts(ctx.session, [(f.path, f.sha) for f in files if f.sha]))
    listed_read = asyncio.ensure_future(listing if listing is not None else list_files(ctx.session, pull))
    try:
        tree, read, listed = await asyncio.gather(tree_read, texts_read, listed_read)
    finally:
        for task in (tree_read, texts_read, listed_read):
            task.cancel()
    texts = {path: text for path, text in read.items() if text is not None}
    changed: dict[str, str | None] = {f.path: texts.get(f.path) for f in files if f.path in texts}
    changed |= {f.path: None for f in files if f.status == "removed"}
    changed |= {f.previous_path: None for f in files if f.previous_path}
    still = standing(record.findings, changed)
    coverage = DeltaCoverage(since=f"{basis.last.sha[:7] if basis.last else ''}..{pull.head_sha[:7]}",
                             anchor=record.anchor, commits=len(since.commits), files_changed=len(files),
                             reserve=ctx.config.limits.output_reserve_tokens, standing=len(still),
                             pull_files=len(listed.files))
    stable = await asyncio.to_thread(_reference, ctx, router, pull, basis, tree, coverage)
    delta = await asyncio.to_thread(diff_pieces, files, count)
    heads = _head_pieces(files, texts, ctx.config.limits.context_tokens, count)
    whole = [] if coverage.reference_files else [
        diff_text(f, packing.numbered_patch(f.patch) if f.patch is not None else None)
        for f in listed.files if f.path in {g.path for g in files}]
    between = (packing.plural(len(basis.between.files), "file") + ": "
               + packing.summarise_paths([f.path for f in basis.between.files])) if basis.between else ""
    system = system_text(ctx, router.phase)

    async def build(head_texts: list[str], whole_texts: list[str]) -> Prompt:
        rest = render("prompts/review_delta.md.j2", since=coverage.since, commits=coverage.commits,
                      head=pull.head_sha, delta=[p.text for p in delta], heads=head_texts, whole=whole_texts,
                      between=between, anchor=record.anchor, last=basis.last.sha if basis.last else "",
                      map=file_map(listed.files), reported=still, pull=pull)
        messages = review_messages(system, stable, [rest])
        sized = structured.with_instructions(messages, ReviewReply, native=False)
        return Prompt(messages, await asyncio.to_thread(router.count_tokens, sized), "", tuple(delta))

    prompt = await build([p.text for p in heads], whole)
    profile, window = choose_window(router, pull.labels, prompt.tokens, coverage.reserve)
    room = window - coverage.reserve
    if prompt.tokens > room and (heads or whole):  # a large push: its diffs before the context
        coverage.left_out.append("the whole new versions of the changed files, and the pull request's whole "
                                 "diff of them: the push's own diffs fill the window")
        heads, whole = [], []
        prompt = await build([], [])
    if prompt.tokens > room:
        return None
    coverage.window = window
    coverage.tokens = prompt.tokens
    coverage.head_files = len(heads)
    with_patch = {f.path for f in files if f.patch is not None}
    coverage.files_read = len({p.path for p in delta if p.path in with_patch})
    coverage.lines_read = sum(p.lines for p in delta)
    _note_push(coverage, files, since.files_capped)
    return DeltaInput(pull, [prompt], coverage, files, listed.files, texts, still, record, profile)


def _reference(ctx: Context, router: ModelRouter, pull: PullInfo, basis: Basis, tree: RepoTree,
               coverage: DeltaCoverage) -> list[str]:
    """The stable blocks within the reference budget (thread work: rendering and counting)."""
    record, at_anchor = basis.record, basis.at_anchor
    assert record is not None and at_anchor is not None
    count: Count = router.count_tokens
    reserve = ctx.config.limits.output_reserve_tokens
    budget = reference_budget(router, pull.labels, record, ctx.config.limits.delta_reference_share)
    paths = [t.path for t in tree.files]
    changed = [f.path for f in at_anchor.files]
    most = tree_budget_for(record.window, reserve)  # what the review at the anchor gave the tree
    every = count("\n".join(paths)) if paths else 0
    # at least a token every 4 characters: a diff that long is over the budget, uncounted
    short = sum(len(f.patch or "") for f in at_anchor.files) // 4 <= budget
    diffs = diff_pieces(at_anchor.files, count) if short and not at_anchor.files_capped else None
    text, tokens, shown = packing.tree_listing(paths, changed, most, count, every)
    diff_tokens = count(diff_block(record.anchor, diffs)) if diffs else 0
    if diffs and tokens + diff_tokens <= budget:
        pass
    elif diffs and diff_tokens <= budget:
        text, tokens, shown = packing.tree_listing(paths, changed, min(most, budget - diff_tokens), count, every)
    else:
        diffs = None
        text, tokens, shown = packing.tree_listing(paths, changed, min(most, budget), count, every)
    blocks = stable_blocks(ctx, pull.number, record.anchor, text, shown < len(paths), diffs)
    coverage.tree_paths, coverage.tree_total = shown, len(paths)
    coverage.reference_files = len(diffs or [])
    coverage.stable_tokens = sum(count(b) for b in blocks)
    if at_anchor.files_capped:
        coverage.left_out.append(
            f"the pull request's diff at {record.anchor[:7]} as reference: GitHub's compare API lists at most "
            f"{len(at_anchor.files):,} files, fewer than the pull request changed then")
    elif diffs is None:
        coverage.left_out.append(
            f"the pull request's whole diff at {record.anchor[:7]} as reference: it would cost more than "
            f"limits.delta_reference_share ({ctx.config.limits.delta_reference_share:g}) of the review at "
            f"{record.anchor[:7]}; the pull request's diff of the files the push changed is read instead")
    if shown < len(paths):
        coverage.left_out.append(f"{len(paths) - shown:,} of {len(paths):,} paths of the repository tree at "
                                 f"{record.anchor[:7]}, to keep the reference within its share")
    return blocks


def _head_pieces(files: Sequence[ChangedFile], texts: dict[str, str], cap: int, count: Count) -> list[packing.Piece]:
    """The new version of each changed file its diff does not already show whole, smallest first,
    within ``limits.context_tokens``; in GitHub's order."""
    chosen: list[packing.Piece] = []
    room = cap
    wanted = [f for f in files if f.path in texts and f.status != "added"
              and f.shown_size != len(texts[f.path].encode())]
    for f in sorted(wanted, key=lambda f: len(texts[f.path])):
        text = content_text("head", f.path, texts[f.path])
        tokens = count(text)
        if tokens <= room:
            chosen.append(packing.Piece("head", f.path, text, tokens))
            room -= tokens
    order = {f.path: i for i, f in enumerate(files)}
    return sorted(chosen, key=lambda p: order[p.path])


def file_map(files: Sequence[ChangedFile]) -> list[str]:
    """The pull request's changed files, one a line; by folder when there are many."""
    if len(files) <= MAP_PATHS:
        return [f"- `{f.path}` ({f.status})" for f in files]
    folders = Counter(posixpath.dirname(f.path) or "." for f in files)
    return [f"- `{folder}/` ({packing.plural(n, 'file')})" for folder, n in sorted(folders.items())]


def _note_push(coverage: DeltaCoverage, files: Sequence[ChangedFile], capped: bool) -> None:
    if capped:
        coverage.left_out.append(
            f"changes to files beyond the {len(files):,} GitHub's compare API lists: the push changed at least "
            "that many, and the compare API lists no more; `/review full` reads the whole change")
    no_patch = [f.path for f in files if f.patch is None and f.status != "renamed"]
    if no_patch:
        coverage.left_out.append(
            f"the diff of {packing.plural(len(no_patch), 'file')} (binary, or too large for GitHub to show): "
            + packing.summarise_paths(no_patch))
