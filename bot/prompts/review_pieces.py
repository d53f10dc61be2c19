"""The pieces of a review prompt: each changed file's diff, and the full text of context files.

Counting megabytes exactly costs seconds of CPU, so only a sample of the pieces is counted with
the router's tokenizer (``packing.sample_every``) and the rest are estimated from it
(``estimated``); ``bot.prompts.review_prompt`` counts every prompt it builds from them as the router
will. Rendering and counting are CPU work and run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.github.pull_reads import MAX_LISTED_FILES, PER_PAGE, ChangedFile, FileList, PullInfo, TreeFile, list_files, read_texts
from bot.prompts import packing
from bot.prompts.packing import Count, Piece
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context

COUNT_BATCHES = 4  # worker threads for counting: the tokenizer releases the GIL


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


def estimated(drafts: Sequence[Piece]) -> list[Piece]:
    """The drafts with every uncounted piece's tokens estimated from the counted ones."""
    ratio = packing.tokens_per_char((len(p.text), p.tokens) for p in drafts if p.exact)
    return [p if p.exact else replace(p, tokens=packing.estimate(p.chars or len(p.text), ratio)) for p in drafts]


def diff_text(f: ChangedFile, body: str | None, part: str = "") -> str:
    return render("prompts/review_piece.md.j2", kind="diff", path=f.path, status=f.status,
                  previous=f.previous_path, additions=f.additions, deletions=f.deletions,
                  part=part, body=body, fence=packing.fence_for(body or ""))


def content_text(kind: str, path: str, text: str) -> str:
    body = packing.numbered_text(text)
    return render("prompts/review_piece.md.j2", kind=kind, path=path, status="", previous=None,
                  additions=0, deletions=0, part="", body=body, fence=packing.fence_for(body))


def diff_pieces(files: Sequence[ChangedFile], count: Count, first: int = 0, every: int = 1,
                render_all: bool = True) -> list[Piece]:
    """Each file's diff as the prompt shows it (numbered); the ``every``-th (by position in the
    whole list, ``first`` being this batch's) counted, the others left for ``estimated``.
    Without ``render_all`` only the counted ones are rendered; ``render_rest`` does the others
    later, off the path of the reads. CPU work: run it in a thread."""
    pieces = []
    for i, f in enumerate(files, first):
        exact = i % every == 0
        lines = f.additions + f.deletions if f.patch is not None else 0
        if exact or render_all:
            text = diff_text(f, packing.numbered_patch(f.patch) if f.patch is not None else None)
            pieces.append(Piece("diff", f.path, text, count(text) if exact else 0, lines, exact, len(text)))
        else:  # the numbers add 7 characters a line; the heading about 80 and the path
            chars = len(f.patch or "") + 7 * ((f.patch or "").count("\n") + 1) + 80 + len(f.path)
            pieces.append(Piece("diff", f.path, "", 0, lines, exact, chars))
    return pieces


def page_pieces(files: Sequence[ChangedFile], count: Count, first: int, every: int, render_all: bool) -> list[Piece]:
    """``diff_pieces`` of one page of the file list; and, while the other pages are still on
    their way, whether each diff shows its whole head file, which choosing context files asks
    of every file once the list is complete (``ChangedFile.shown_size`` keeps the answer)."""
    for f in files:
        if f.status not in ("added", "removed"):
            _ = f.shown_size
    return diff_pieces(files, count, first, every, render_all)


def render_rest(files: Sequence[ChangedFile], drafts: Sequence[Piece]) -> list[Piece]:
    """The drafts with every text rendered (``diff_pieces`` without ``render_all``); thread work."""
    return [p if p.text else replace(p, text=diff_text(f, packing.numbered_patch(f.patch) if f.patch is not None else None))
            for f, p in zip(files, drafts, strict=True)]


async def listed_pieces(ctx: Context, pull: PullInfo, count: Count,
                        render_all: bool = True) -> tuple[FileList, list[Piece]]:
    """The file list and every file's diff piece; each page is rendered (a sample counted) in a
    worker thread as soon as it arrives, while the other pages are still on their way. Without
    ``render_all``, only the sample is rendered (see ``diff_pieces``)."""
    counting: list[asyncio.Future[list[Piece]]] = []
    every = packing.sample_every(min(max(pull.changed_files, 1), MAX_LISTED_FILES))

    def on_page(n: int, files: list[ChangedFile]) -> None:
        first = (n - 1) * PER_PAGE
        counting.append(asyncio.ensure_future(asyncio.to_thread(page_pieces, files, count, first, every, render_all)))

    try:
        listed = await list_files(ctx.session, pull, on_page)
        by_path = {p.path: p for batch in await asyncio.gather(*counting) for p in batch}
    finally:
        for job in counting:
            job.cancel()
    return listed, estimated([by_path[f.path] for f in listed.files])


async def content_pieces(ctx: Context, count: Count, wanted: Sequence[tuple[str, TreeFile]]) -> tuple[list[Piece], int]:
    """Fetch and count (a sample of) (kind, file) contents; -> pieces in the given order,
    binaries skipped."""
    texts = await read_texts(ctx.session, [(t.path, t.sha) for _, t in wanted])
    kept = [(kind, t.path, texts.get(t.path)) for kind, t in wanted]
    rendered = await asyncio.to_thread(
        lambda: [(kind, path, content_text(kind, path, text)) for kind, path, text in kept if text is not None])
    every = packing.sample_every(len(rendered))
    sample = [r[2] for i, r in enumerate(rendered) if i % every == 0]
    tokens = iter(await count_all(count, sample))
    drafts = [Piece(kind, path, text, next(tokens) if i % every == 0 else 0, exact=i % every == 0)  # type: ignore[arg-type]
              for i, (kind, path, text) in enumerate(rendered)]
    return estimated(drafts), len(kept) - len(rendered)


def split_piece(f: ChangedFile, budget: int, count: Count) -> list[Piece]:
    """A file's diff too big for one chunk, cut at hunk (else line) boundaries."""
    body = packing.numbered_patch(f.patch or "")
    parts = packing.split_to_fit(body, max(1, budget - 200), count)  # 200: the piece's header
    pieces = []
    for i, part in enumerate(parts, 1):
        text = diff_text(f, part, part=f"part {i} of {len(parts)}")
        pieces.append(Piece("diff", f.path, text, count(text), (f.additions + f.deletions) if i == 1 else 0))
    return pieces
