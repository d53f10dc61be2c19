"""Packing a pull request into a model's window: pieces of text with their token counts,
chosen by priority, split into chunks when even the diff does not fit.

Pure functions only (no I/O): ``bot.prompts.review_prompt`` reads and counts, this decides. Counting
megabytes of diff exactly costs seconds of CPU, so a large change is packed on estimates: a
sample of its pieces is counted with the router's tokenizer (litellm's) and the rest are
estimated from that sample's tokens per character, plus ``ESTIMATE_SLACK``. The estimates only
decide what to fetch and where chunks end: every prompt is then counted as the router will count
it, and that count is what the window check and the coverage line use. ``MARGIN`` absorbs the
few tokens that joining texts and the chat format add.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, TypeVar

from bot.github.diffmap import HUNK_HEADER

T = TypeVar("T")
Count = Callable[[str], int]
Kind = Literal["diff", "head", "related"]

MARGIN_SHARE = 0.01  # of the window: joins, chat formatting, the "part i of n" lines
MARGIN_MIN = 256
TREE_SHARE = 0.08  # of the usable window: the tree is orientation, not the subject
BYTES_PER_TOKEN = 3  # a pessimistic estimate, only to choose what to fetch before counting
SAMPLE_PIECES = 100  # pieces of a kind counted exactly; the others are estimated from them
ESTIMATE_SLACK = 0.01  # added to an estimated piece: the sample's ratio is not every piece's
_REMOVED = " " * 7  # where a head-side line has its number
_PREFIXED = 100_000  # line numbers whose prefix is tabled (about 6 MB once)


@dataclass(frozen=True)
class Piece:
    kind: Kind
    path: str
    text: str
    tokens: int  # counted, or estimated when ``exact`` is False
    lines: int = 0  # changed lines a diff piece carries
    exact: bool = True
    chars: int = 0  # the text's length; nearly, while a draft's text is not rendered yet ("")


@dataclass
class Coverage:
    """What the model read, and what it did not, and why: the review's coverage line."""

    files_changed: int  # as the pull request counts them
    files_listed: int  # as the files API listed them (GitHub stops at 3,000)
    files_read: int = 0  # files whose diff reached a model
    lines_read: int = 0
    head_files: int = 0  # full head versions of changed files
    related_files: int = 0  # unchanged files read for context
    tokens: int = 0  # prompt tokens over every call
    window: int = 0  # the chosen window
    reserve: int = 0  # of it, kept for the answer
    chunks: int = 1
    tree_paths: int = 0
    tree_total: int = 0
    left_out: list[str] = field(default_factory=list)
    whole_in_diff: int = 0  # modified files whose diff already shows every line of the head version


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks inside the text."""
    if "```" not in text:  # the common case, without a scan of megabytes of diff
        return "```"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def numbered_patch(patch: str) -> str:
    """The patch with each head-side line's number in front, so findings can name real lines:
    ``  12 +added``, ``  13  context``, ``     -removed``. Megabytes of diff go through here, so
    the prefixes come from a table rather than being formatted line by line."""
    out: list[str] = []
    append = out.append
    line = 0
    prefixes = _prefixes()
    for raw in patch.split("\n"):
        first = raw[:1]
        if first == "-" or first == "\\":
            append(_REMOVED + raw)
        elif first == "@" and (match := HUNK_HEADER.match(raw)):
            line = int(match.group(1))
            append(raw)
        else:
            append((prefixes[line] if line < _PREFIXED else f"{line:>6} ") + raw)
            line += 1
    return "\n".join(out)


@lru_cache(maxsize=1)
def _prefixes() -> list[str]:
    return [f"{n:>6} " for n in range(_PREFIXED)]


def numbered_text(text: str) -> str:
    return "\n".join(f"{i:>6}  {line}" for i, line in enumerate(text.split("\n"), 1))


def split_hunks(patch: str) -> list[str]:
    """A patch's hunks, each starting with its header."""
    hunks: list[str] = []
    for raw in patch.split("\n"):
        if raw.startswith("@@") or not hunks:
            hunks.append(raw)
        else:
            hunks[-1] += "\n" + raw
    return hunks


def split_to_fit(text: str, budget: int, count: Count) -> list[str]:
    """Cut text at hunk headers, else at line ends, into parts of at most ``budget`` tokens."""
    if count(text) <= budget:
        return [text]
    hunks = split_hunks(text) if text.startswith("@@") else []
    if len(hunks) > 1:
        parts: list[str] = []
        for part in greedy([(h, count(h)) for h in hunks], budget, lambda a, b: a + "\n" + b):
            parts += split_to_fit(part, budget, count)
        return parts
    lines = text.split("\n")
    if len(lines) == 1:  # one enormous line: cut by characters
        step = max(1, len(text) // 2)
        return split_to_fit(text[:step], budget, count) + split_to_fit(text[step:], budget, count)
    half = len(lines) // 2
    return split_to_fit("\n".join(lines[:half]), budget, count) + split_to_fit("\n".join(lines[half:]), budget, count)


def greedy(items: Iterable[tuple[str, int]], budget: int, join: Callable[[str, str], str]) -> list[str]:
    """Join consecutive texts while their summed tokens stay within the budget."""
    out: list[str] = []
    used = 0
    for text, tokens in items:
        if out and used + tokens <= budget:
            out[-1] = join(out[-1], text)
            used += tokens
        else:
            out.append(text)
            used = tokens
    return out


def chunk_pieces(pieces: Sequence[Piece], budget: int) -> list[list[Piece]]:
    """Consecutive pieces (GitHub's path order keeps a directory together) in chunks of at most
    ``budget`` tokens; the caller has already split any piece bigger than that."""
    chunks: list[list[Piece]] = []
    used = 0
    for piece in pieces:
        if chunks and used + piece.tokens <= budget:
            chunks[-1].append(piece)
            used += piece.tokens
        else:
            chunks.append([piece])
            used = piece.tokens
    return chunks


def take_within(pieces: Iterable[Piece], budget: int) -> tuple[list[Piece], list[Piece]]:
    """The pieces, in priority order, that fit the budget; and those that did not."""
    taken: list[Piece] = []
    dropped: list[Piece] = []
    for piece in pieces:
        if piece.tokens <= budget:
            taken.append(piece)
            budget -= piece.tokens
        else:
            dropped.append(piece)
    return taken, dropped


async def shed_to_fit(build: Callable[[list[Piece]], Awaitable[tuple[T, int]]], extras: Sequence[Piece],
                      room: int) -> tuple[T, int, list[Piece], int]:
    """Build the prompt with every context piece, count it (``build`` returns both); while it is
    over ``room``, drop pieces from the end (lowest priority) by about the excess and build again:
    estimates decided what was fetched, the count decides what is sent.
    -> (prompt, its tokens, the pieces kept, how many were shed)."""
    kept = list(extras)
    shed = 0
    while True:
        built, tokens = await build(kept)
        if tokens <= room or not kept:
            return built, tokens, kept, shed
        excess = tokens - room
        while kept and excess > 0:
            excess -= kept.pop().tokens
            shed += 1


def sample_every(n: int) -> int:
    """Count every k-th piece of ``n`` exactly: all of a small change, ~SAMPLE_PIECES of a large one."""
    return max(1, n // SAMPLE_PIECES)


def tokens_per_char(samples: Iterable[tuple[int, int]]) -> float:
    """Tokens per character over (characters, tokens) samples; pessimistic without any."""
    chars = tokens = 0
    for c, t in samples:
        chars += c
        tokens += t
    return tokens / chars if chars else 1 / BYTES_PER_TOKEN


def estimate(chars: int, ratio: float) -> int:
    return math.ceil(chars * ratio * (1 + ESTIMATE_SLACK))


def tree_listing(paths: Sequence[str], changed: Iterable[str], budget: int, count: Count,
                 counted: int | None = None) -> tuple[str, int, int]:
    """The repository's paths, one a line, within ``budget`` tokens: all of them when they fit,
    else top-level entries and the directories of changed files first. -> (text, tokens, shown).
    ``counted``: the tokens of all the paths, when they were counted already."""
    text = "\n".join(paths)
    tokens = counted if counted is not None else count(text) if paths else 0
    if tokens <= budget:
        return text, tokens, len(paths)
    dirs = {posixpath.dirname(p) for p in changed}
    ordered = sorted(paths, key=lambda p: (0 if "/" not in p else 1 if posixpath.dirname(p) in dirs else 2, p))
    keep = int(len(ordered) * budget / max(tokens, 1) * 0.9)
    while keep > 0:
        shown = sorted(ordered[:keep])
        text = "\n".join(shown)
        tokens = count(text)
        if tokens <= budget:
            return text, tokens, keep
        keep = int(keep * budget / tokens * 0.9)
    return "", 0, 0


def margin(window: int) -> int:
    return max(MARGIN_MIN, int(window * MARGIN_SHARE))


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def summarise_paths(paths: Sequence[str], shown: int = 5) -> str:
    listed = ", ".join(f"`{p}`" for p in paths[:shown])
    return listed + (f" and {len(paths) - shown:,} more" if len(paths) > shown else "")
