"""The whole-change prompt of a pull request review: read, count, pack, and say what was read.

1. The file list (every page at once) and the head's tree are read concurrently; each file's
   diff is rendered and counted with the router's tokenizer in worker threads while the tree
   read is still in flight.
2. When the whole diff fits the chosen window (less the output reserve and the fixed prompt),
   the rest of the room goes to the full head versions of changed files, then to related
   unchanged files, chosen by their tree sizes before any is fetched, then counted exactly.
3. When it does not fit even the largest window, the diff is cut into chunks (whole files in
   GitHub's path order; a file bigger than a chunk at hunk, then line, boundaries) and every
   chunk is reviewed on its own; the caller merges the answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import packing, structured
from bot.config import Phase
from bot.diffmap import DiffMap
from bot.findings import ReviewReply
from bot.packing import Count, Coverage, Piece
from bot.pr_context import (
    MAX_LISTED_FILES,
    ChangedFile,
    FileList,
    PullInfo,
    RepoTree,
    TreeFile,
    list_files,
    read_texts,
    read_tree,
)
from bot.templates import render

if TYPE_CHECKING:
    from bot.context import Context
    from bot.models import ModelRouter

PHASE: Phase = "review"
ESCALATION_PROFILE = "massive-context"
COUNT_BATCHES = 4  # worker threads for counting: the tokenizer releases the GIL


@dataclass(frozen=True)
class Prompt:
    """One model call: its messages, their counted tokens, and which part of the change."""

    messages: list[dict[str, Any]]
    tokens: int
    label: str = ""


@dataclass
class ReviewInput:
    pull: PullInfo
    files: FileList
    diffmap: DiffMap
    prompts: list[Prompt]
    coverage: Coverage
    profile: str

    @property
    def chunked(self) -> bool:
        return len(self.prompts) > 1


def _count_batch(count: Count, texts: Sequence[str]) -> list[int]:
    return [count(t) for t in texts]


async def count_all(count: Count, texts: Sequence[str]) -> list[int]:
    """Token counts of many texts, in a few worker threads (never on the event loop)."""
    if not texts:
        return []
    size = -(-len(texts) // COUNT_BATCHES)
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    counted = await asyncio.gather(*(asyncio.to_thread(_count_batch, count, b) for b in batches))
    return [n for batch in counted for n in batch]


def diff_text(f: ChangedFile, body: str | None, part: str = "") -> str:
    return render("prompts/review_piece.md.j2", kind="diff", path=f.path, status=f.status,
                  previous=f.previous_path, additions=f.additions, deletions=f.deletions,
                  part=part, body=body, fence=packing.fence_for(body or ""))


def content_text(kind: str, path: str, text: str) -> str:
    body = packing.numbered_text(text)
    return render("prompts/review_piece.md.j2", kind=kind, path=path, status="", previous=None,
                  additions=0, deletions=0, part="", body=body, fence=packing.fence_for(body))


def diff_pieces(files: Sequence[ChangedFile], count: Count) -> list[Piece]:
    """Each file's diff as the prompt shows it (numbered), counted. CPU work: run it in a thread."""
    pieces = []
    for f in files:
        text = diff_text(f, packing.numbered_patch(f.patch) if f.patch is not None else None)
        pieces.append(Piece("diff", f.path, text, count(text), f.additions + f.deletions if f.patch is not None else 0))
    return pieces


async def listed_pieces(ctx: Context, pull: PullInfo, count: Count) -> tuple[FileList, list[Piece]]:
    """The file list and every file's diff piece; each page is rendered and counted in a worker
    thread as soon as it arrives, while the other pages are still on their way."""
    counting: list[asyncio.Future[list[Piece]]] = []

    def on_page(files: list[ChangedFile]) -> None:
        counting.append(asyncio.ensure_future(asyncio.to_thread(diff_pieces, files, count)))

    listed = await list_files(ctx, pull, on_page)
    by_path = {p.path: p for batch in await asyncio.gather(*counting) for p in batch}
    return listed, [by_path[f.path] for f in listed.files]


async def content_pieces(ctx: Context, count: Count, wanted: Sequence[tuple[str, TreeFile]]) -> tuple[list[Piece], int]:
    """Fetch and count (kind, file) contents; -> pieces in the given order, binaries skipped."""
    texts = await read_texts(ctx, [(t.path, t.sha) for _, t in wanted])
    kept = [(kind, t.path, texts.get(t.path)) for kind, t in wanted]
    rendered = [(kind, path, content_text(kind, path, text)) for kind, path, text in kept if text is not None]
    tokens = await count_all(count, [r[2] for r in rendered])
    pieces = [Piece(kind, path, text, n) for (kind, path, text), n in zip(rendered, tokens)]  # type: ignore[arg-type]
    return pieces, len(kept) - len(rendered)


def split_piece(f: ChangedFile, budget: int, count: Count) -> list[Piece]:
    """A file's diff too big for one chunk, cut at hunk (else line) boundaries."""
    body = packing.numbered_patch(f.patch or "")
    parts = packing.split_to_fit(body, max(1, budget - 200), count)  # 200: the piece's header
    pieces = []
    for i, part in enumerate(parts, 1):
        text = diff_text(f, part, part=f"part {i} of {len(parts)}")
        pieces.append(Piece("diff", f.path, text, count(text), (f.additions + f.deletions) if i == 1 else 0))
    return pieces


def _messages(ctx: Context, pull: PullInfo, tree_text: str, tree: tuple[int, int], pieces: Sequence[Piece],
              part: str, others: str) -> list[dict[str, Any]]:
    system = render("prompts/review_system.md.j2", repo=ctx.repo,
                    instructions=ctx.config.instructions.get(PHASE, ""))
    user = render("prompts/review_user.md.j2", repo=ctx.repo, pull=pull, tree=tree_text,
                  tree_shown=tree[0], tree_total=tree[1], part=part, others=others,
                  pieces=[p.text for p in pieces])
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def choose_window(router: ModelRouter, phase: Phase, labels: Sequence[str], needed: int, reserve: int) -> tuple[str, int]:
    """The routed profile's window; the widest profile's when the prompt needs more (the router
    escalates the same way; it never goes to a smaller window)."""
    profile = router.decide(phase, labels=labels).profile
    window = router.window(profile)
    if needed + reserve > window and router.window(ESCALATION_PROFILE) > window:
        return ESCALATION_PROFILE, router.window(ESCALATION_PROFILE)
    return profile, window


async def assemble_review(ctx: Context, pull: PullInfo, router: ModelRouter) -> ReviewInput:
    count: Count = router.count_tokens
    reserve = ctx.config.limits.output_reserve_tokens
    tree_task = asyncio.create_task(read_tree(ctx, pull.head_sha))
    try:
        listed, diffs = await listed_pieces(ctx, pull, count)
        tree = await tree_task
    finally:
        tree_task.cancel()
    files = listed.files
    changed = [f.path for f in files]
    diff_total = sum(p.tokens for p in diffs)
    profile, window = choose_window(router, PHASE, pull.labels, diff_total, reserve)
    room = window - reserve - packing.margin(window)
    paths = [t.path for t in tree.files]
    tree_text, _, shown = await asyncio.to_thread(
        packing.tree_listing, paths, changed, int(room * packing.TREE_SHARE), count)
    tree_info = (shown, len(paths))
    # the fixed part as the router will count it: chat format and the JSON instructions included
    bare = structured.with_instructions(_messages(ctx, pull, tree_text, tree_info, [], "", ""), ReviewReply, native=False)
    fixed = await asyncio.to_thread(router.count_tokens, bare)
    usable = max(1, room - fixed)
    coverage = Coverage(files_changed=max(pull.changed_files, len(files)), files_listed=len(files),
                        window=window, reserve=reserve, tree_paths=shown, tree_total=len(paths))
    note_listing(coverage, listed, files, tree, shown)

    if diff_total <= usable:
        extras = await add_extras(ctx, count, files, tree, usable - diff_total, coverage)
        chunks = [list(diffs) + extras]
    else:
        pieces: list[Piece] = []
        for f, piece in zip(files, diffs):
            pieces += split_piece(f, usable, count) if piece.tokens > usable else [piece]
        chunks = packing.chunk_pieces(pieces, usable)
        coverage.left_out.append(
            f"full head versions and related files: the diff alone ({diff_total:,} tokens) is larger than "
            f"the {window:,}-token window, so it was reviewed in {len(chunks)} chunks of the diff only")
    prompts = []
    for i, chunk in enumerate(chunks, 1):
        part = f"part {i} of {len(chunks)}" if len(chunks) > 1 else ""
        label = f"Part {i} of {len(chunks)} ({packing.summarise_paths(_paths(chunk), 2)})" if part else ""
        others = "" if not part else f"The other parts cover the rest of the {len(files):,} changed files."
        messages = _messages(ctx, pull, tree_text, tree_info, chunk, part, others)
        prompts.append(Prompt(messages, fixed + sum(p.tokens for p in chunk), label))
    sent = [p for chunk in chunks for p in chunk]
    with_patch = {f.path for f in files if f.patch is not None}
    coverage.files_read = len({p.path for p in sent if p.kind == "diff" and p.path in with_patch})
    coverage.lines_read = sum(p.lines for p in sent if p.kind == "diff")
    coverage.head_files = sum(1 for p in sent if p.kind == "head")
    coverage.related_files = sum(1 for p in sent if p.kind == "related")
    coverage.tokens = sum(p.tokens for p in prompts)
    coverage.chunks = len(prompts)
    diffmap = DiffMap({f.path: f.patch for f in files})
    return ReviewInput(pull, listed, diffmap, prompts, coverage, profile)


def _paths(chunk: Sequence[Piece]) -> list[str]:
    seen: dict[str, None] = {}
    for p in chunk:
        seen.setdefault(p.path, None)
    return list(seen)


def note_listing(coverage: Coverage, listed: FileList, files: Sequence[ChangedFile], tree: RepoTree, shown: int) -> None:
    if listed.not_listed:
        coverage.left_out.append(
            f"{packing.plural(listed.not_listed, 'changed file')}: GitHub's files API lists at most "
            f"{MAX_LISTED_FILES:,} files of a pull request, so these were not seen")
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


async def add_extras(ctx: Context, count: Count, files: Sequence[ChangedFile], tree: RepoTree, budget: int,
                     coverage: Coverage, mentioned: Sequence[str] = ()) -> list[Piece]:
    """Full head versions of changed files, then related files, within the room left."""
    heads, skipped = packing.head_candidates(files, tree.by_path)
    head_fetch = packing.choose_by_estimate(heads, budget)
    estimate = sum(t.size // packing.BYTES_PER_TOKEN + 16 for t in head_fetch)
    related = packing.related_candidates([f.path for f in files], tree.files, mentioned)
    related_fetch = packing.choose_by_estimate(related, budget - estimate)
    pieces, binary = await content_pieces(
        ctx, count, [("head", t) for t in head_fetch] + [("related", t) for t in related_fetch])
    taken, dropped = packing.take_within(pieces, budget)
    unfetched = len(heads) - len(head_fetch)
    head_dropped = unfetched + sum(1 for p in dropped if p.kind == "head")
    if head_dropped:
        skipped["not enough room left in the window"] = head_dropped
    for why, n in skipped.items():
        coverage.left_out.append(f"the full head version of {packing.plural(n, 'changed file')}: {why}")
    if binary:
        coverage.left_out.append(f"{packing.plural(binary, 'file')} read for context turned out binary")
    related_left = len(related) - sum(1 for p in taken if p.kind == "related")
    if related_left > 0:
        coverage.left_out.append(
            f"{packing.plural(related_left, 'related file')} (tests, neighbours, build files) that did not fit")
    return taken
