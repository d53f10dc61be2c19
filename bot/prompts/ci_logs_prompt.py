"""A CI job log cut to what a debugging model needs, and the files it points at.

A job log is mostly set-up noise and can run to megabytes; the failure is a few dozen lines.
What is kept, in the log's order:

- Python tracebacks (``Traceback (most recent call last):`` to the exception line) and pytest's
  per-test failure sections (``____ test_name ____`` to the next section);
- every line that says a test failed or an error happened (``FAILED``, ``ERROR``, ``error:``,
  ``##[error]``, ``panic:``, ``--- FAIL``, ...), with a few lines of context either side;
- the tail, where the summary and the exit code are.

Gaps are marked with how many lines they hold, and the excerpt opens with a line saying how
much was left out. The runner's decoration (the BOM, the timestamp before every line, ANSI
colours) is removed first. A log is untrusted (a test can print anything), so each kept line is
cleaned with ``bot.safety.clean_untrusted``, line by line: a log is plain text, shown raw, and a
stray ``<!--`` printed by a test (or quoted in a traceback's source line) then hides at most the
rest of its own line, never the traceback and the summary after it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.safety import clean_untrusted

MAX_LINES = 260  # lines of one log shown to the model
MAX_CHARS = 16_000
LINE_CHARS = 600  # one very long line (minified output, a dumped blob) is cut
TAIL = 25
BEFORE, AFTER = 2, 4  # context around a line that says something failed
BLOCK_LINES = 80  # of one traceback or pytest failure section
MAX_PLACES = 200  # (file, line) places taken from the logs

_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_TRACEBACK = re.compile(r"^\s*Traceback \(most recent call last\):")
_SECTION = re.compile(r"^_{3,} .+ _{3,}$")  # pytest: ____ test_moving_average ____
_RULE = re.compile(r"^={3,}")  # pytest: ==== short test summary info ====
_FAILURE_LINE = re.compile(
    r"^(?:FAILED|ERROR)\b|##\[error\]|\berror(?:\[\w+\])?:|\bERR!|^\s*E\s{2,}|\bpanic:|^--- FAIL|"
    r"\b\w*(?:Error|Exception)\b:|\bAssertionError\b|\bexit code [1-9]|(?-i:^\s*FAIL\s)",
    re.IGNORECASE,
)
_FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+)|^--- FAIL: (\S+)")
# where a file is named with a line: Python frames, "path:line:" (pytest, compilers, linters),
# and JavaScript stack frames "(path:line:col)"
_PLACES = (
    re.compile(r'File "(?P<path>[^"\n]+)", line (?P<line>\d+)'),
    re.compile(r"(?:^|\s)(?P<path>[\w./@+-]+\.[A-Za-z0-9]+):(?P<line>\d+)(?::\d+)?(?::|\s|$)"),
    re.compile(r"\((?P<path>[^()\s:]+\.[A-Za-z0-9]+):(?P<line>\d+):\d+\)"),
)
_NOT_THE_PROJECT = ("site-packages/", "dist-packages/", "node_modules/", "/lib/python", "<frozen")


def log_lines(raw: str) -> list[str]:
    """The log's lines as printed: no BOM, no runner timestamps, no colour codes."""
    lines = raw.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [_ANSI.sub("", _STAMP.sub("", line)) for line in lines]


def _block_end(lines: list[str], start: int) -> int:
    """One past the last line of the traceback or pytest section opening at ``start``."""
    stop = min(len(lines), start + BLOCK_LINES)
    if _TRACEBACK.match(lines[start]):
        for i in range(start + 1, stop):
            if lines[i] and not lines[i][0].isspace():  # the exception line ends it
                return i + 1
        return stop
    for i in range(start + 1, stop):
        if _SECTION.match(lines[i]) or _RULE.match(lines[i]):
            return i
    return stop


@dataclass(frozen=True)
class Excerpt:
    text: str  # cleaned, with the gaps and the opening line saying what was left out
    total: int  # lines in the log
    shown: int
    first_failure: str  # the first failing test named in the log ("" when none is)


def _ranges(lines: list[str]) -> list[tuple[int, int]]:
    """Blocks worth showing, most telling first: the tail (where the summary and the exit code
    are), tracebacks and failure sections, then failure lines with their context."""
    blocks: list[tuple[int, int]] = [(max(0, len(lines) - TAIL), len(lines))]
    around: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        if _TRACEBACK.match(line) or _SECTION.match(line):
            blocks.append((i, _block_end(lines, i)))
        elif _FAILURE_LINE.search(line):
            around.append((max(0, i - BEFORE), min(len(lines), i + AFTER + 1)))
    return blocks + around


def _merge(chosen: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(chosen):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def cut_log(raw: str, max_lines: int = MAX_LINES, max_chars: int = MAX_CHARS) -> Excerpt:
    """The parts of a job log that say what failed (see the module's doc), cleaned."""
    lines = [line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " [...]" for line in log_lines(raw)]
    chosen: list[tuple[int, int]] = []
    shown = 0
    for block in _ranges(lines):  # by weight, while there is room; the tail always
        merged = _merge([*chosen, block])
        size = sum(end - start for start, end in merged)
        chars = sum(len(line) + 1 for start, end in merged for line in lines[start:end])
        if chosen and (size > max_lines or chars > max_chars):
            continue
        chosen, shown = merged, size
    parts: list[str] = []
    at = 0
    for start, end in chosen:
        if start > at:
            parts.append(f"[... {start - at:,} line{'s' if start - at != 1 else ''} left out ...]")
        parts += [clean_untrusted(line) for line in lines[start:end]]
        at = end
    left_out = len(lines) - shown
    head = (f"[{shown:,} of {len(lines):,} log lines shown; {left_out:,} left out]" if left_out
            else f"[the whole log: {len(lines):,} lines]")
    if at < len(lines):  # only when the tail itself was too large to show whole
        parts.append(f"[... {len(lines) - at:,} lines left out ...]")
    return Excerpt("\n".join([head, *parts]), len(lines), shown, first_failure(lines))


def first_failure(lines: list[str]) -> str:
    """The first failing test the log names (pytest's and go's summaries), or ""."""
    for line in lines:
        match = _FAILED_TEST.match(line)
        if match:
            return clean_untrusted(line.strip())[:300]
    return ""


def _repo_path(raw: str, paths: Collection[str], by_name: dict[str, list[str]]) -> str | None:
    """The repository file a path printed by CI means: itself, or the longest repository path
    it ends with (a runner prints absolute paths: /home/runner/work/repo/repo/src/app.py)."""
    path = raw.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if any(part in path for part in _NOT_THE_PROJECT):
        return None
    if path in paths:
        return path
    same_name = by_name.get(posixpath.basename(path), [])
    return max((c for c in same_name if path.endswith("/" + c)), key=len, default=None)


def named_places(texts: Iterable[str], paths: Collection[str]) -> list[tuple[str, int]]:
    """(repository path, line) for each place the texts name that is a file of the repository,
    in order of first mention, each once (at most ``MAX_PLACES``)."""
    by_name: dict[str, list[str]] = {}
    for candidate in paths:
        by_name.setdefault(posixpath.basename(candidate), []).append(candidate)
    found: dict[tuple[str, int], None] = {}
    for text in texts:
        matches = sorted((m for pattern in _PLACES for m in pattern.finditer(text)), key=lambda m: m.start())
        for match in matches:
            path = _repo_path(match.group("path"), paths, by_name)
            if path is not None:
                found.setdefault((path, int(match.group("line"))), None)
                if len(found) >= MAX_PLACES:
                    return list(found)
    return list(found)


def named_files(places: Iterable[tuple[str, int]], limit: int) -> list[str]:
    """The distinct files of ``places``, innermost frame last as printed, at most ``limit``."""
    files = list(dict.fromkeys(posixpath.normpath(path) for path, _ in places))
    return files[:limit]
