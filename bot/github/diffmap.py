"""Which lines of a pull request's head a review comment may target.

GitHub accepts an inline comment with ``side: "RIGHT"`` only on a line that the file's diff
shows on the right: an added line or a context line of some hunk. Anything else is answered
with 422 "Line could not be resolved" and the whole review is lost, so every finding is checked
here first and the rest are folded into the review body.

Within one hunk the right-side lines are exactly ``new_start .. new_start + new_length - 1``
(context and added lines, in order; removed lines and git's "\\ No newline" marker take no
right-side number), so a file's commentable lines are the union of its hunk headers' right
ranges. Reading only the ``@@`` headers keeps this cheap on 300,000-line pull requests; a test
checks the result against ``unidiff``'s line-by-line parse.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# A line of a patch that starts with "@@" is always a hunk header: every body line starts with
# " ", "+", "-" or "\\".
HUNK_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


@dataclass(frozen=True)
class RightLines:
    """The right-side line numbers of one file's patch, as sorted half-open ranges."""

    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()

    def __contains__(self, line: object) -> bool:
        if not isinstance(line, int):
            return False
        i = bisect.bisect_right(self.starts, line) - 1
        return i >= 0 and line < self.ends[i]

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))

    def __iter__(self) -> Iterator[int]:
        for start, end in zip(self.starts, self.ends, strict=True):
            yield from range(start, end)


def right_lines(patch: str | None) -> RightLines:
    """The lines of the head version that ``patch`` (a PR file's ``patch`` field) shows."""
    if not patch:
        return RightLines()
    ranges: list[tuple[int, int]] = []
    for match in HUNK_HEADER.finditer(patch):
        start = int(match.group(1))
        length = 1 if match.group(2) is None else int(match.group(2))
        if length:
            ranges.append((start, start + length))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for start, end in ranges:  # hunks never overlap, but a hand-made patch might
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return RightLines(tuple(s for s, _ in merged), tuple(e for _, e in merged))


class DiffMap:
    """Commentable right-side lines for every file of a pull request."""

    def __init__(self, patches: Mapping[str, str | None]) -> None:
        self._files = {path: right_lines(patch) for path, patch in patches.items()}

    def can_comment(self, path: str, line: int | None) -> bool:
        lines = self._files.get(path)
        return lines is not None and line is not None and line in lines

    def lines(self, path: str) -> RightLines:
        return self._files.get(path, RightLines())

    def __contains__(self, path: object) -> bool:
        return path in self._files


def line_at(patch: str | None, line: int | None) -> str | None:
    """The text of head line ``line`` when ``patch`` shows it on the right (an added or a
    context line), without its diff marker; else None."""
    if not patch or line is None:
        return None
    number = 0
    for raw in patch.split("\n"):
        first = raw[:1]
        if first == "@" and (match := HUNK_HEADER.match(raw)):
            number = int(match.group(1))
        elif first in ("+", " "):
            if number == line:
                return raw[1:]
            number += 1
    return None
