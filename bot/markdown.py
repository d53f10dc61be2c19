"""Where GitHub's Markdown has code: the one fence scanner for every reader of comments.

CommonMark fences, as GitHub renders them: a line of 0-3 spaces then 3 or more backticks (whose
info string holds no backtick) or tildes opens a code block; a line of the same character, at
least as long, closes it; a block never closed runs to the end. ``` ```a`b ``` is therefore
prose, not a fence: a reader that took it for one would hide what follows it (a command, a
mention) from the bot while people see it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}(?=[^`]*$)|~{3,})")


def closes(fence: str, line: str) -> bool:
    """Whether ``line`` closes a code block opened by ``fence`` (same character, at least as long)."""
    return re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*", line) is not None


def code_flags(lines: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """Each line with whether it is code: a fence line, or a line inside a fenced block."""
    fence: str | None = None
    for line in lines:
        if fence is not None:
            if closes(fence, line):
                fence = None
            yield line, True
        elif opened := FENCE_OPEN.match(line):
            fence = opened.group("fence")
            yield line, True
        else:
            yield line, False
