"""The guards an implementation passes before anything is written: deny paths (the workflows
always, so a model can never give itself CI powers), binary content, and the caps on files and
bytes changed. Refused paths are listed for the pull request; over a cap nothing is written."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.answers.edits import Change

ALWAYS_DENIED = (".github/workflows/**",)


@dataclass
class Refusal:
    path: str
    reason: str


@dataclass
class Screened:
    allowed: list[Change] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    over_cap: str = ""  # non-empty: nothing may be written, and this says why
    bytes_changed: int = 0



def denied_by(path: str, patterns: Sequence[str]) -> str | None:
    """The deny pattern that covers the path (see ``matching``); the workflows always."""
    return matching(path, (*ALWAYS_DENIED, *patterns))


def matching(path: str, patterns: Sequence[str]) -> str | None:
    """The first pattern that covers the path (glob; case-insensitive, so ``.GitHub/Workflows``
    is caught too; a pattern without ``/`` also matches a file name at any depth; a
    directory pattern covers everything under it)."""
    low = path.lower()
    name = low.rsplit("/", 1)[-1]
    for pattern in patterns:
        pat = pattern.strip().lower().lstrip("/")
        if not pat:
            continue
        base = pat[:-3] if pat.endswith("/**") else pat.rstrip("/")
        if (
            fnmatch.fnmatchcase(low, pat)
            or fnmatch.fnmatchcase(low, base)
            or fnmatch.fnmatchcase(low, base + "/*")
            or ("/" not in pat and fnmatch.fnmatchcase(name, pat))
        ):
            return pattern
    return None


def binary_reason(change: Change) -> str | None:
    if change.content is None:
        return None
    if "\0" in change.content:
        return "binary content (NUL byte)"
    try:
        change.content.encode("utf-8")
    except UnicodeEncodeError:
        return "binary content (not valid UTF-8)"
    return None


def screen(
    changes: Sequence[Change],
    deny_paths: Sequence[str],
    max_files: int,
    max_bytes: int,
    base_sizes: Mapping[str, int] | None = None,
) -> Screened:
    """Apply the guards. Refused changes are dropped and listed, the rest may go ahead; over a
    cap nothing may be written. Bytes changed = the bytes of every new or changed file's new
    content plus the bytes of every deleted file (what the commit adds or removes wholesale)."""
    result = Screened()
    for change in changes:
        pattern = denied_by(change.path, deny_paths)
        if pattern:
            result.refused.append(Refusal(change.path, f"deny path `{pattern}`"))
            continue
        reason = binary_reason(change)
        if reason:
            result.refused.append(Refusal(change.path, reason))
            continue
        result.allowed.append(change)
    sizes = base_sizes or {}
    result.bytes_changed = sum(
        c.size if c.content is not None else sizes.get(c.path, 0) for c in result.allowed
    )
    if len(result.allowed) > max_files:
        result.over_cap = f"{len(result.allowed)} files changed, over the limit of {max_files}"
    elif result.bytes_changed > max_bytes:
        result.over_cap = f"{result.bytes_changed:,} bytes changed, over the limit of {max_bytes:,}"
    return result
