"""Diffs between two trees, in the shapes GitHub shows them.

`FileDiff.patch` is what GitHub puts in a PR file's ``patch`` field: hunks only, no ``---``/``+++``
header, lines joined by "\\n" with no final newline, and git's "\\ No newline at end of file"
marker. `commentable_lines` answers which (side, line) a review comment may target, the rule
GitHub enforces with "Line could not be resolved".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from tests.fakes.github_git import FlatEntry, GitStore

NO_NEWLINE = "\\ No newline at end of file"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class FileDiff:
    filename: str
    status: str  # added | removed | modified | renamed
    additions: int
    deletions: int
    sha: str | None  # blob SHA on the head side (None when removed)
    old_sha: str | None
    patch: str | None  # None for binary files and pure renames
    previous_filename: str | None = None
    mode: str = "100644"

    @property
    def changes(self) -> int:
        return self.additions + self.deletions


@dataclass
class Commentable:
    """Where review comments may go in one file's patch."""

    left: dict[int, int] = field(default_factory=dict)  # old line -> hunk index
    right: dict[int, int] = field(default_factory=dict)  # new line -> hunk index
    positions: dict[int, tuple[str, int]] = field(default_factory=dict)
    hunks: list[str] = field(default_factory=list)  # the text of each hunk, header first


def is_binary(content: bytes) -> bool:
    if b"\0" in content[:8000]:
        return True
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _range(start: int, length: int) -> str:
    # the same conventions as git and difflib: "-3" for one line, "-2,0" for none
    beginning = start + 1
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


def _render(prefix: str, line: str, out: list[str]) -> None:
    if line.endswith("\n"):
        out.append(prefix + line[:-1])
    else:
        out.append(prefix + line)
        out.append(NO_NEWLINE)


def make_patch(old: str, new: str, context: int = 3) -> tuple[str, int, int]:
    """Unified hunks for old -> new: (patch, additions, deletions)."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    out: list[str] = []
    additions = deletions = 0
    if not a:  # an added file: no need for the matcher on big generated PRs
        out.append(f"@@ -0,0 +{_range(0, len(b))} @@")
        for line in b:
            _render("+", line, out)
        return "\n".join(out), len(b), 0
    if not b:
        out.append(f"@@ -{_range(0, len(a))} +0,0 @@")
        for line in a:
            _render("-", line, out)
        return "\n".join(out), 0, len(a)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        old_range = _range(first[1], last[2] - first[1])
        new_range = _range(first[3], last[4] - first[3])
        out.append(f"@@ -{old_range} +{new_range} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    _render(" ", line, out)
                continue
            for line in a[i1:i2]:
                _render("-", line, out)
                deletions += 1
            for line in b[j1:j2]:
                _render("+", line, out)
                additions += 1
    return "\n".join(out), additions, deletions


def commentable_lines(patch: str) -> Commentable:
    result = Commentable()
    old_line = new_line = 0
    position = 0
    hunk = -1
    for raw in patch.split("\n"):
        match = _HUNK.match(raw)
        if match:
            old_line, new_line = int(match.group(1)), int(match.group(3))
            if position:  # the first hunk header is not a position, later ones are
                position += 1
            hunk += 1
            result.hunks.append(raw)
            continue
        position += 1
        result.hunks[hunk] += "\n" + raw
        if raw == NO_NEWLINE:
            continue
        tag = raw[:1]
        if tag == "+":
            result.right[new_line] = hunk
            result.positions[position] = ("RIGHT", new_line)
            new_line += 1
        elif tag == "-":
            result.left[old_line] = hunk
            result.positions[position] = ("LEFT", old_line)
            old_line += 1
        else:
            result.left[old_line] = hunk
            result.right[new_line] = hunk
            result.positions[position] = ("RIGHT", new_line)
            old_line += 1
            new_line += 1
    return result


def diff_trees(store: GitStore, base_tree: str, head_tree: str) -> list[FileDiff]:
    """Every changed file between two trees, sorted by path as GitHub lists them."""
    base = store.flatten(base_tree)
    head = store.flatten(head_tree)
    removed = {p: e for p, e in base.items() if p not in head}
    added = {p: e for p, e in head.items() if p not in base}
    # exact renames (same blob, new path), the only rename detection the fake does
    by_sha = {e.sha: p for p, e in removed.items()}
    renames = {p: by_sha.pop(e.sha) for p, e in added.items() if e.sha in by_sha}
    diffs: list[FileDiff] = []
    for path, entry in head.items():
        old = base.get(path)
        if path in renames:
            old_path = renames[path]
            diffs.append(
                FileDiff(path, "renamed", 0, 0, entry.sha, entry.sha, None, old_path, entry.mode)
            )
        elif old is None:
            diffs.append(_file_diff(store, path, None, entry, "added"))
        elif old.sha != entry.sha or old.mode != entry.mode:
            diffs.append(_file_diff(store, path, old, entry, "modified"))
    renamed_from = set(renames.values())
    for path, entry in removed.items():
        if path not in renamed_from:
            diffs.append(_file_diff(store, path, entry, None, "removed"))
    diffs.sort(key=lambda d: d.filename)
    return diffs


def _file_diff(
    store: GitStore, path: str, old: FlatEntry | None, new: FlatEntry | None, status: str
) -> FileDiff:
    old_bytes = store.blobs.get(old.sha, b"") if old else b""
    new_bytes = store.blobs.get(new.sha, b"") if new else b""
    mode = (new or old).mode if (new or old) else "100644"
    if is_binary(old_bytes) or is_binary(new_bytes):
        return FileDiff(path, status, 0, 0, new.sha if new else None,
                        old.sha if old else None, None, None, mode)
    patch, additions, deletions = make_patch(old_bytes.decode(), new_bytes.decode())
    return FileDiff(path, status, additions, deletions, new.sha if new else None,
                    old.sha if old else None, patch or None, None, mode)


def unified_diff(diffs: list[FileDiff]) -> str:
    """The text GitHub sends for Accept: application/vnd.github.diff."""
    out: list[str] = []
    for d in diffs:
        old_name = d.previous_filename or d.filename
        out.append(f"diff --git a/{old_name} b/{d.filename}")
        old_short = (d.old_sha or "0" * 40)[:7]
        new_short = (d.sha or "0" * 40)[:7]
        if d.status == "renamed":
            out += ["similarity index 100%", f"rename from {old_name}", f"rename to {d.filename}"]
            continue
        if d.status == "added":
            out += [f"new file mode {d.mode}", f"index {old_short}..{new_short}"]
        elif d.status == "removed":
            out += [f"deleted file mode {d.mode}", f"index {old_short}..{new_short}"]
        else:
            out.append(f"index {old_short}..{new_short} {d.mode}")
        a = "/dev/null" if d.status == "added" else f"a/{old_name}"
        b = "/dev/null" if d.status == "removed" else f"b/{d.filename}"
        if d.patch is None:
            out.append(f"Binary files {a} and {b} differ")
            continue
        out += [f"--- {a}", f"+++ {b}", d.patch]
    return "\n".join(out) + "\n" if out else ""
