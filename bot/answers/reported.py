"""Findings the bot already posted on a pull request, and when a new one repeats one of them.

A posted finding is remembered with its *anchor*: the text of the line it was about, as the head
it reviewed had it. After a push, an earlier finding still stands when its file still holds that
line (it may have moved: the line number follows the text); it is gone when the push changed or
removed that line. A new finding repeats an earlier one when it is about the same file, the same
anchored line content (or, with no anchor on either side, the same line number) and the same
issue: messages sharing most of their words (``SAME_ISSUE`` of difflib's ratio over lower-cased
words), since a model words one problem a little differently each time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from bot.answers.findings import Finding

SAME_ISSUE = 0.6  # difflib ratio over lower-cased words from which two messages are one issue
ANCHOR_CHARS = 200  # of the anchored line kept (enough to tell lines apart)
MESSAGE_CHARS = 400  # of a message kept: what the model is shown and what is compared
_WORD = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class Reported:
    """One finding as the bot posted it."""

    path: str
    line: int | None
    severity: str
    message: str
    anchor: str = ""  # the line's text at the head that was reviewed ("" when not known)

    @classmethod
    def of(cls, finding: Finding, anchor: str) -> Reported:
        return cls(finding.path, finding.line, finding.severity, finding.message[:MESSAGE_CHARS],
                   normal(anchor)[:ANCHOR_CHARS])


def normal(line: str) -> str:
    """A line's text without its indentation and with runs of spaces as one."""
    return " ".join(line.split())


def _words(message: str) -> list[str]:
    return _WORD.findall(message.lower())


def same_issue(a: str, b: str) -> bool:
    wa, wb = _words(a[:MESSAGE_CHARS]), _words(b[:MESSAGE_CHARS])
    if wa == wb:
        return True
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio() >= SAME_ISSUE


def repeats(new: Reported, earlier: Reported) -> bool:
    """Same file, same anchored line content, same issue."""
    if new.path != earlier.path:
        return False
    if new.anchor and earlier.anchor:
        if new.anchor[:ANCHOR_CHARS] != earlier.anchor[:ANCHOR_CHARS]:
            return False
    elif new.line != earlier.line:
        return False
    return same_issue(new.message, earlier.message)


def new_findings(findings: Sequence[Finding], anchors: Sequence[str],
                 earlier: Sequence[Reported]) -> tuple[list[Finding], list[Reported], int]:
    """-> (the findings that repeat none of ``earlier``, their records, how many were repeats).
    Two new findings that repeat each other are one."""
    kept: list[Finding] = []
    records: list[Reported] = []
    seen = list(earlier)
    for finding, anchor in zip(findings, anchors, strict=True):
        record = Reported.of(finding, anchor)
        if any(repeats(record, old) for old in seen):
            continue
        kept.append(finding)
        records.append(record)
        seen.append(record)
    return kept, records, len(findings) - len(kept)


def follow(finding: Reported, text: str | None) -> Reported | None:
    """Where an earlier finding stands in its file's new text: the same line when it still
    holds the anchored text, else the nearest line that does; None when no line does (the push
    changed what it was about). ``text`` None (the file was removed) drops it too."""
    if text is None:
        return None
    if not finding.anchor or finding.line is None:
        return finding  # nothing to follow it by: it stands where it was
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines, 1) if normal(line)[:ANCHOR_CHARS] == finding.anchor]
    if not hits:
        return None
    nearest = min(hits, key=lambda i: (abs(i - finding.line), i))  # type: ignore[operator]
    return finding if nearest == finding.line else replace(finding, line=nearest)


def standing(earlier: Iterable[Reported], changed: dict[str, str | None]) -> list[Reported]:
    """The earlier findings that still stand after a push; ``changed`` maps each file the push
    changed to its new text (None when it was removed). Files the push did not touch, and files
    whose new text could not be read (binary), keep their findings where they were."""
    out: list[Reported] = []
    for finding in earlier:
        if finding.path not in changed:
            out.append(finding)
        elif (moved := follow(finding, changed[finding.path])) is not None:
            out.append(moved)
    return out
