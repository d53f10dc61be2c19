"""Context files for a prompt about a change: full head versions of changed files, then related
unchanged files (tests, neighbours, build files), chosen by size from the tree, then read.

The choice is made on the tree's sizes before anything is read, so only what may fit is
fetched (each file is one request); what is read is counted, and only what fits is taken.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING

from bot.github.pull_reads import ChangedFile, RepoTree, TreeFile
from bot.prompts import packing
from bot.prompts.packing import Count, Coverage, Piece
from bot.prompts.review_pieces import content_pieces

if TYPE_CHECKING:
    from bot.dispatch.context import Context

MAX_CONTENT_BYTES = 256_000  # a head or related file larger than this is left out
MAX_RELATED = 200  # related files read at most (each is one request)
DOC_NAMES = ("readme", "contributing", "pyproject.toml", "package.json", "setup.cfg", "setup.py",
             "go.mod", "cargo.toml", "pom.xml", "build.gradle", "makefile", "tsconfig.json")


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
        elif f.shown_size == entry.size:
            whole += 1
        elif entry.size > MAX_CONTENT_BYTES:
            skipped[f"larger than {MAX_CONTENT_BYTES // 1000} KB"] += 1
        else:
            chosen.append(entry)
    return sorted(chosen, key=lambda t: (t.size, t.path)), dict(skipped), whole


def _stem(name: str) -> str:
    """A file name without test affixes and extensions: ``test_models.py`` -> ``models``."""
    name = name.lower()
    if "test" in name or "spec" in name:  # every affix has one: most names skip the replaces
        for affix in ("test_", "_test", ".test", ".spec", "_spec", "tests_"):
            name = name.replace(affix, "")
    return name.partition(".")[0]


def _split(path: str) -> tuple[str, str]:
    """(folder, name); ``posixpath.split``'s answer for a tree's paths (no empty parts), sooner."""
    folder, _, name = path.rpartition("/")
    return folder, name


def related_candidates(changed: Sequence[str], tree: Sequence[TreeFile], mentioned: Iterable[str] = ()) -> list[TreeFile]:
    """Unchanged files by how likely they matter to the change: named in the text, then tests
    and sources sharing a changed file's name, then files beside a changed file, then the
    project's own description (README, build files), each group smallest first."""
    changed_set = set(changed)
    stems = {_stem(_split(p)[1]) for p in changed} - {"", "__init__", "index", "mod"}
    dirs = {_split(p)[0] for p in changed}
    named = {m.strip("`'\"./") for m in mentioned}
    named_bases = {posixpath.basename(m) for m in named if "." in posixpath.basename(m)}

    def rank(t: TreeFile) -> int | None:  # runs over every path of a large tree
        if t.size > MAX_CONTENT_BYTES or t.size == 0 or t.path in changed_set:
            return None
        folder, base = _split(t.path)
        if named and (t.path in named or base in named_bases):
            return 0
        if _stem(base) in stems:
            return 1
        if folder in dirs:
            return 2
        if folder in ("", "docs", ".github") and base.lower().startswith(DOC_NAMES):
            return 3
        return None

    ranked = [(r, t) for t in tree if (r := rank(t)) is not None]
    ranked.sort(key=lambda rt: (rt[0], rt[1].size, rt[1].path))
    return [t for _, t in ranked[:MAX_RELATED]]


def choose_by_estimate(candidates: Sequence[TreeFile], budget: int) -> list[TreeFile]:
    """Which files to fetch: those whose estimated tokens still fit (counted exactly later)."""
    chosen: list[TreeFile] = []
    for t in candidates:
        estimate = t.size // packing.BYTES_PER_TOKEN + 16
        if estimate <= budget:
            chosen.append(t)
            budget -= estimate
    return chosen


async def add_extras(ctx: Context, count: Count, files: Sequence[ChangedFile], tree: RepoTree,
                     budget: int | Awaitable[int], coverage: Coverage, mentioned: Sequence[str] = (),
                     fetch_budget: int | None = None) -> list[Piece]:
    """Full head versions of changed files, then related files, within the room left and
    ``limits.context_tokens``. ``fetch_budget`` (no more than the budget) lets the fetch start
    before the budget is known exactly; ``budget`` may then be awaitable, and is awaited only
    to take what fits."""
    cap = ctx.config.limits.context_tokens  # a small change would otherwise fill a 1M window
    heads, skipped, coverage.whole_in_diff = head_candidates(files, tree.by_path)
    if fetch_budget is None:
        fetch_budget = budget if isinstance(budget, int) else 0
    fetch_budget = min(fetch_budget, cap)
    head_fetch = choose_by_estimate(heads, fetch_budget)
    estimate = sum(t.size // packing.BYTES_PER_TOKEN + 16 for t in head_fetch)
    related = related_candidates([f.path for f in files], tree.files, mentioned)
    related_fetch = choose_by_estimate(related, fetch_budget - estimate)
    pieces, binary = await content_pieces(
        ctx, count, [("head", t) for t in head_fetch] + [("related", t) for t in related_fetch])
    room = budget if isinstance(budget, int) else await budget
    taken, dropped = packing.take_within(pieces, min(room, cap))
    short = (f"limits.context_tokens ({cap:,} tokens of context files) reached" if room > cap
             else "not enough room left in the window")
    unfetched = len(heads) - len(head_fetch)
    head_dropped = unfetched + sum(1 for p in dropped if p.kind == "head")
    if head_dropped:
        skipped[short] = head_dropped
    for why, n in skipped.items():
        coverage.left_out.append(f"the full head version of {packing.plural(n, 'changed file')}: {why}")
    if binary:
        coverage.left_out.append(f"{packing.plural(binary, 'file')} read for context turned out binary")
    related_left = len(related) - sum(1 for p in taken if p.kind == "related")
    if related_left > 0:
        coverage.left_out.append(
            f"{packing.plural(related_left, 'related file')} (tests, neighbours, build files): {short}")
    return taken
