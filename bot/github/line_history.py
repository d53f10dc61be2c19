"""Which lines a push or a merge kept, changed or removed: the reads behind two outcomes.

- *Lines of the bot's diff still present at merge*: the lines the bot's commits added (each
  commit's ``files[].patch``) against the lines the merged pull request adds as a whole
  (``GET /pulls/{n}/files``), compared as (path, text) multisets. A line a person rewrote, or
  a later fix replaced, is not kept.
- *A review finding acted on*: the line of an inline finding, in the version it was written
  on (``original_commit_id``), is among the lines a later comparison (``compare/{that}...{head}``)
  removes or rewrites.

Both read only patches GitHub already cut: a file whose patch GitHub leaves out (too large,
binary) counts as unknown, never as changed. Reads are bounded (``MAX_COMMITS``, one page of
files each) so an outcome never costs more than a handful of requests.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.github.rest import get_json_or_none, paginate

if TYPE_CHECKING:
    from bot.github.session import Session

HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")
MAX_COMMITS = 20  # bot commits read for one merged pull request
MAX_FILE_PAGES = 3  # of a pull request's files (300 files)


def added_lines(patch: str | None) -> list[str]:
    """The text of each line ``patch`` adds (blank lines left out: they say nothing)."""
    return [line[1:].strip() for line in (patch or "").split("\n")
            if line.startswith("+") and line[1:].strip()]


def removed_old_lines(patch: str | None) -> set[int]:
    """Old-side numbers of the lines ``patch`` removes (a rewritten line is removed and added)."""
    found: set[int] = set()
    old = 0
    for line in (patch or "").split("\n"):
        header = HUNK.match(line)
        if header:
            old = int(header.group(1))
        elif line.startswith("-"):
            found.add(old)
            old += 1
        elif line.startswith(" "):
            old += 1
    return found


def kept(bot_added: Iterable[tuple[str, str]], final_added: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """-> (the bot's added lines still added at the end, all of the bot's added lines)."""
    ours, final = Counter(bot_added), Counter(final_added)
    return sum((ours & final).values()), sum(ours.values())


async def pull_commits(session: Session, number: int) -> list[dict[str, Any]]:
    found = await paginate(session.gh, f"/repos/{session.repo}/pulls/{number}/commits", limit=250)
    return [c for c in found if isinstance(c, dict)]


async def commit_added(session: Session, sha: str) -> list[tuple[str, str]]:
    data = await get_json_or_none(session.gh, f"/repos/{session.repo}/commits/{sha}")
    return [(str(f.get("filename")), text) for f in (data or {}).get("files") or []
            for text in added_lines(f.get("patch"))]


async def pull_added(session: Session, number: int) -> list[tuple[str, str]]:
    files = await paginate(session.gh, f"/repos/{session.repo}/pulls/{number}/files", limit=100 * MAX_FILE_PAGES)
    return [(str(f.get("filename")), text) for f in files if isinstance(f, dict)
            for text in added_lines(f.get("patch"))]


@dataclass(frozen=True)
class Changes:
    """What a comparison removed: whole files, and old-side lines of the others."""

    lines: dict[str, set[int]] = field(default_factory=dict)
    removed: frozenset[str] = frozenset()

    def touches(self, path: str, line: int) -> bool:
        return path in self.removed or line in self.lines.get(path, ())


async def changed_since(session: Session, base: str, head: str) -> Changes:
    """The lines of ``base`` that ``head`` removes or rewrites (files without a patch: none)."""
    data = await get_json_or_none(session.gh, f"/repos/{session.repo}/compare/{base}...{head}")
    lines: dict[str, set[int]] = {}
    removed: set[str] = set()
    for f in (data or {}).get("files") or []:
        path = str(f.get("previous_filename") or f.get("filename"))
        if f.get("status") == "removed":
            removed.add(path)
        elif f.get("patch"):
            lines[path] = removed_old_lines(f["patch"])
    return Changes(lines, frozenset(removed))
