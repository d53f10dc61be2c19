"""Which changed files a security review is about, and which other changed files the diff
connects to them. Pure functions of the file list: nothing is read here.

*Sensitive* files are those a ``triggers.security_paths`` pattern covers (on ``/security``,
when none is, every changed file: a maintainer asked for the whole change to be looked at).
A changed file is *connected* to them when the diff ties the two together: its diff names a
sensitive file's module or a function or class the sensitive diff defines (it imports or calls
it), or a sensitive diff names it (a workflow that runs ``scripts/deploy.sh``, a module that
imports a changed helper). Everything else changed is only listed by name in the prompt.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.answers.edit_guards import matching
from bot.github.diffmap import HUNK_HEADER
from bot.github.pull_reads import ChangedFile

# module names too common to tie two files together
GENERIC_STEMS = frozenset({
    "__init__", "__main__", "index", "main", "mod", "lib", "app", "util", "utils", "common", "base",
    "core", "init", "test", "tests", "conftest", "config", "settings", "types", "models", "setup",
    "readme", "license", "changelog", "makefile", "dockerfile", "package", "requirements",
})
MIN_NAME = 4  # shorter names (``id``, ``run``) match everywhere
_DEFINED = re.compile(r"\b(?:def|class|function|func|fn|interface|struct)\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Sensitive:
    file: ChangedFile
    pattern: str  # the security path that covers it; "" when /security asked for every file


@dataclass(frozen=True)
class Connected:
    file: ChangedFile
    why: str  # e.g. "calls `check_password` of `app/auth/session.py`"


@dataclass
class Scope:
    sensitive: list[Sensitive] = field(default_factory=list)
    connected: list[Connected] = field(default_factory=list)
    others: list[ChangedFile] = field(default_factory=list)  # changed, in neither group

    @property
    def matched(self) -> list[Sensitive]:
        """The files a security path covers (what triggers the phase on its own)."""
        return [s for s in self.sensitive if s.pattern]


def stem(path: str) -> str:
    """``app/auth/session.py`` -> ``session``; ``.github/workflows/ci.yml`` -> ``ci``."""
    return posixpath.basename(path).partition(".")[0].lower()


def _names_of(f: ChangedFile) -> set[str]:
    """What another file's diff would say to use this one: its module name (unless generic)
    and the functions and classes its diff defines or changes."""
    names = {n for n in _DEFINED.findall(f.patch or "") if len(n) >= MIN_NAME and not n.startswith("__")}
    own = stem(f.path)
    if len(own) >= MIN_NAME - 1 and own not in GENERIC_STEMS:
        names.add(own)
    return names


def _word_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(set(names), key=len, reverse=True)
    if not ordered:
        return None
    return re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, ordered)) + r")(?![A-Za-z0-9_])", re.IGNORECASE)


def scope(files: Sequence[ChangedFile], patterns: Sequence[str], *, everything: bool = False) -> Scope:
    """Split the changed files; ``everything`` (``/security``) puts every file in scope when no
    security path covers any."""
    out = Scope()
    rest: list[ChangedFile] = []
    for f in files:
        pattern = matching(f.path, patterns) or (matching(f.previous_path, patterns) if f.previous_path else None)
        if pattern:
            out.sensitive.append(Sensitive(f, pattern))
        else:
            rest.append(f)
    if not out.sensitive:
        if everything:
            out.sensitive = [Sensitive(f, "") for f in rest]
        else:
            out.others = rest
        return out
    for f in rest:
        why = _connection(f, out.sensitive)
        if why:
            out.connected.append(Connected(f, why))
        else:
            out.others.append(f)
    return out


def _connection(f: ChangedFile, sensitive: Sequence[Sensitive]) -> str:
    """Why ``f`` is connected to a sensitive file, or "" when the diff does not tie them."""
    text = f.patch or ""
    for s in sensitive:
        found = _word_pattern(_names_of(s.file))
        hit = found.search(text) if found is not None and text else None
        if hit is not None:
            return f"its diff uses `{hit.group(1)}` of `{s.file.path}`"
    own = _word_pattern(n for n in (stem(f.path),) if len(n) >= MIN_NAME - 1 and n not in GENERIC_STEMS)
    for s in sensitive:
        other = s.file.patch or ""
        if f.path in other:
            return f"the diff of `{s.file.path}` names it"
        hit = own.search(other) if own is not None else None
        if hit is not None:
            return f"the diff of `{s.file.path}` uses `{hit.group(1)}`"
    return ""


def right_side(patch: str | None) -> dict[int, str]:
    """Head line number -> text, for the lines a patch shows on the right (added and context)."""
    out: dict[int, str] = {}
    line = 0
    for raw in (patch or "").split("\n"):
        first = raw[:1]
        if first == "@" and (match := HUNK_HEADER.match(raw)):
            line = int(match.group(1))
        elif first in ("+", " ") and line:
            out[line] = raw[1:]
            line += 1
    return out
