"""Packing a pull request into a model's window: pieces of text with their token counts,
chosen by priority, split into chunks when even the diff does not fit.

Pure functions only (no I/O): ``bot.review_context`` reads and counts, this decides. Counting
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
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.pr_context import ChangedFile, TreeFile

Count = Callable[[str], int]
Kind = Literal["diff", "head", "related"]

MARGIN_SHARE = 0.01  # of the window: joins, chat formatting, the "part i of n" lines
MARGIN_MIN = 256
TREE_SHARE = 0.08  # of the usable window: the tree is orientation, not the subject
MAX_CONTENT_BYTES = 256_000  # a head or related file larger than this is left out
MAX_RELATED = 200  # related files read at most (each is one request)
BYTES_PER_TOKEN = 3  # a pessimistic estimate, only to choose what to fetch before counting
SAMPLE_PIECES = 100  # pieces of a kind counted exactly; the others are estimated from them
ESTIMATE_SLACK = 0.01  # added to an estimated piece: the sample's ratio is not every piece's
DOC_NAMES = ("readme", "contributing", "pyproject.toml", "package.json", "setup.cfg", "setup.py",
             "go.mod", "cargo.toml", "pom.xml", "build.gradle", "makefile", "tsconfig.json")
_REMOVED = " " * 7  # where a head-side line has its number
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


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
    ``  12 +added``, ``  13  context``, ``     -removed``."""
    out: list[str] = []
    line = 0
    for raw in patch.split("\n"):
        first = raw[:1]
        if first == "@" and (match := _HUNK.match(raw)):
            line = int(match.group(1))
            out.append(raw)
        elif first == "-" or first == "\\":
            out.append(_REMOVED + raw)
        else:
            out.append(f"{line:>6} {raw}")
            line += 1
    return "\n".join(out)


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


def shows_whole_file(patch: str, size: int) -> bool:
    """Whether the diff already shows every line of the head version: its hunks run on from line
    1 without a gap and their head-side lines add up to exactly the blob's size in bytes."""
    if not patch.startswith("@@"):
        return False
    expect, total, last_new = 1, 0, False
    for raw in patch.split("\n"):
        match = _HUNK.match(raw)
        if match:
            if int(match.group(1)) != expect:
                return False
            last_new = False
        elif raw.startswith("\\"):  # "\ No newline at end of file" after a head-side line
            total -= 1 if last_new else 0
        elif raw.startswith(("+", " ")):  # the marker out, the newline in: the line's own length
            total += len(raw) if raw.isascii() else len(raw.encode())
            expect += 1
            last_new = True
        else:
            last_new = False
        if total > size + 1:  # + 1: a "No newline" marker may still take one back
            return False
    return total == size


def head_candidates(files: Sequence[ChangedFile], tree: dict[str, TreeFile]) -> tuple[list[TreeFile], dict[str, int], int]:
    """Changed files whose whole head version adds to their diff (an added file's diff already
    is the whole file, and so is a modified file's whose hunks cover it), smallest first so most
    files get their context; why others not; and how many the diff shows whole."""
    chosen: list[TreeFile] = []
    skipped: Counter[str] = Counter()
    whole = 0
    for f in files:
        if f.status in ("removed", "added") or f.patch is None:
            continue
        entry = tree.get(f.path)
        if entry is None:
            skipped["not in the head's tree listing"] += 1
        elif shows_whole_file(f.patch, entry.size):
            whole += 1
        elif entry.size > MAX_CONTENT_BYTES:
            skipped[f"larger than {MAX_CONTENT_BYTES // 1000} KB"] += 1
        else:
            chosen.append(entry)
    return sorted(chosen, key=lambda t: (t.size, t.path)), dict(skipped), whole


def _stem(path: str) -> str:
    name = posixpath.basename(path).lower()
    for affix in ("test_", "_test", ".test", ".spec", "_spec", "tests_"):
        name = name.replace(affix, "")
    return name.split(".", 1)[0]


def related_candidates(changed: Sequence[str], tree: Sequence[TreeFile], mentioned: Iterable[str] = ()) -> list[TreeFile]:
    """Unchanged files by how likely they matter to the change: named in the text, then tests
    and sources sharing a changed file's name, then files beside a changed file, then the
    project's own description (README, build files), each group smallest first."""
    changed_set = set(changed)
    stems = {_stem(p) for p in changed} - {"", "__init__", "index", "mod"}
    dirs = {posixpath.dirname(p) for p in changed}
    named = {m.strip("`'\"./") for m in mentioned}
    named_bases = {posixpath.basename(m) for m in named if "." in posixpath.basename(m)}

    def rank(t: TreeFile) -> int | None:
        if t.path in changed_set or t.size > MAX_CONTENT_BYTES or t.size == 0:
            return None
        if t.path in named or posixpath.basename(t.path) in named_bases:
            return 0
        if _stem(t.path) in stems:
            return 1
        if posixpath.dirname(t.path) in dirs:
            return 2
        if posixpath.basename(t.path).lower().startswith(DOC_NAMES) and posixpath.dirname(t.path) in ("", "docs", ".github"):
            return 3
        return None

    ranked = [(r, t) for t in tree if (r := rank(t)) is not None]
    ranked.sort(key=lambda rt: (rt[0], rt[1].size, rt[1].path))
    return [t for _, t in ranked[:MAX_RELATED]]


def choose_by_estimate(candidates: Sequence[TreeFile], budget: int) -> list[TreeFile]:
    """Which files to fetch: those whose estimated tokens still fit (counted exactly later)."""
    chosen: list[TreeFile] = []
    for t in candidates:
        estimate = t.size // BYTES_PER_TOKEN + 16
        if estimate <= budget:
            chosen.append(t)
            budget -= estimate
    return chosen


def tree_listing(paths: Sequence[str], changed: Iterable[str], budget: int, count: Count) -> tuple[str, int, int]:
    """The repository's paths, one a line, within ``budget`` tokens: all of them when they fit,
    else top-level entries and the directories of changed files first. -> (text, tokens, shown)."""
    text = "\n".join(paths)
    tokens = count(text) if paths else 0
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
