"""The one edit format the implementation model answers in: parse, validate, apply, screen.

The model replies with JSON that fits ``EditPlan``::

    {"summary": "what the change does and why, for the pull request",
     "edits": [
       {"path": "pkg/new_module.py", "action": "write", "content": "<the whole file>"},
       {"path": "pkg/big_module.py", "action": "edit",
        "blocks": [{"search": "<lines copied exactly>", "replace": "<new lines>"}]},
       {"path": "pkg/obsolete.py", "action": "delete"}
     ]}

Rules (the prompt says the same; errors quote them back to the model):

- ``path``: relative to the repository root, ``/`` separators; no ``..``, no leading ``/``, never
  inside ``.git/``. A leading ``./`` is dropped.
- ``write``: the complete new content of a file. For new files, and for existing files up to
  ``WHOLE_FILE_MAX_BYTES``; a larger existing file must be changed with ``edit`` (a model that
  rewrites a large file tends to drop parts of it).
- ``edit``: search/replace blocks for an existing file, applied in order; each ``search`` must
  occur exactly once in the file as it stands after the blocks before it (an empty ``replace``
  removes the text).
- ``delete``: removes an existing file; says so explicitly, nothing is ever deleted implicitly.
- Entries apply in order to a working copy; several entries may name the same path.

``apply_plan`` returns the net changes against the base and the exact errors (for the one
repair request). ``bot.answers.edit_guards.screen`` then applies the guards: deny paths
(``.github/workflows/**`` always), binary content, and the caps on files and bytes changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

WHOLE_FILE_MAX_BYTES = 16_000
REGULAR_MODES = ("100644", "100755")


class SearchReplace(BaseModel):
    search: str = Field(description="lines copied exactly from the file, matching exactly once")
    replace: str = Field(description="the lines that take their place (may be empty)")


class FileEdit(BaseModel):
    path: str = Field(description="relative to the repository root, e.g. src/app/main.py")
    action: Literal["write", "edit", "delete"]
    content: str | None = Field(default=None, description="write: the whole new file")
    blocks: list[SearchReplace] = Field(default_factory=list, description="edit: in order")


class EditPlan(BaseModel):
    summary: str = Field(description="what the change does and why, for the pull request")
    edits: list[FileEdit]


@dataclass(frozen=True)
class TreeItem:
    """One entry of the base tree (recursive listing), by full path."""

    mode: str
    type: str  # blob | tree | commit
    size: int | None = None
    sha: str = ""


@dataclass(frozen=True)
class Change:
    """A file's net change against the base: new text, or ``None`` for a deletion."""

    path: str
    content: str | None
    mode: str = "100644"

    @property
    def size(self) -> int:
        return len(self.content.encode("utf-8", "surrogatepass")) if self.content is not None else 0


@dataclass
class Applied:
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def normalise_path(path: str) -> tuple[str, str | None]:
    """(the path as used, an error or None). Rejects anything that could leave the repository."""
    raw = path
    while path.startswith("./"):
        path = path[2:]
    if not path.strip():
        return raw, "empty path"
    if "\\" in path or any(ord(ch) < 32 for ch in path):
        return raw, f"{raw!r}: use '/' separators and no control characters"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path) or path.startswith("~"):
        return raw, f"{raw}: path outside the repository (write it relative to the repository root)"
    parts = path.split("/")
    if any(p in ("..", ".") for p in parts):
        return raw, f"{raw}: path traversal ('..' or '.') is not allowed"
    if any(p == "" for p in parts):
        return raw, f"{raw}: empty path segment (trailing or doubled '/')"
    if parts[0].lower() == ".git":
        return raw, f"{raw}: paths inside .git/ are not part of the repository"
    if len(path.encode()) > 4096:
        return raw, f"{raw[:80]}...: path too long"
    return path, None


def _find(text: str, search: str) -> tuple[int, str]:
    """(number of occurrences, the spelling that was counted): tries CRLF for CRLF files."""
    count = text.count(search)
    if count == 0 and "\r\n" in text and "\r\n" not in search:
        crlf = search.replace("\n", "\r\n")
        if text.count(crlf):
            return text.count(crlf), crlf
    return count, search


def _not_found_hint(text: str, search: str) -> str:
    squash = re.compile(r"\s+")
    wanted = squash.sub(" ", search).strip()
    if wanted and wanted in squash.sub(" ", text):
        return " (it would match if whitespace were ignored: copy the lines exactly, indentation included)"
    first = next((line.strip() for line in search.splitlines() if line.strip()), "")
    if first and first not in text:
        return f" (its first line {first[:80]!r} is not in the file)"
    return ""


def apply_blocks(path: str, text: str, blocks: Sequence[SearchReplace]) -> tuple[str, list[str]]:
    errors: list[str] = []
    for i, block in enumerate(blocks, 1):
        if not block.search:
            errors.append(f"{path}: block {i}: empty search text (use write to replace a whole file)")
            continue
        count, spelled = _find(text, block.search)
        if count == 0:
            errors.append(f"{path}: block {i}: search text not found{_not_found_hint(text, block.search)}")
            continue
        if count > 1:
            errors.append(
                f"{path}: block {i}: search text is ambiguous, found {count} times "
                "(add surrounding lines so it matches exactly once)"
            )
            continue
        replace = block.replace.replace("\n", "\r\n") if spelled != block.search else block.replace
        text = text.replace(spelled, replace, 1)
    return text, errors


def decoded(content: bytes | None) -> str | None:
    """A file's text, or None when there is none or it is binary (a NUL byte, or not UTF-8)."""
    if content is None or b"\0" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def files_to_read(plan: EditPlan, tree: Mapping[str, TreeItem]) -> list[str]:
    """Existing files whose current content applying the plan needs."""
    wanted: list[str] = []
    for edit in plan.edits:
        path, error = normalise_path(edit.path)
        item = tree.get(path)
        if error is None and item is not None and item.type == "blob" and path not in wanted:
            small = item.size is None or item.size <= WHOLE_FILE_MAX_BYTES
            if edit.action == "edit" or (edit.action == "write" and small):
                wanted.append(path)  # a write is compared with the file so no-ops drop out
    return wanted


def apply_plan(plan: EditPlan, tree: Mapping[str, TreeItem], contents: Mapping[str, bytes]) -> Applied:
    """Apply the plan to a working copy of the base; the net changes, or the exact errors.

    ``contents`` must hold every existing file the plan edits (see ``files_to_read``)."""
    errors: list[str] = []
    work: dict[str, str | None] = {}  # path -> current text (None: deleted) for touched paths
    if not plan.edits:
        errors.append("the plan has no edits")

    def exists(path: str) -> bool:
        if path in work:
            return work[path] is not None
        item = tree.get(path)
        return item is not None and item.type == "blob"

    def parent_is_file(path: str) -> str | None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if exists(prefix) or (prefix in tree and tree[prefix].type != "tree"):
                return prefix
        return None

    for n, edit in enumerate(plan.edits, 1):
        path, error = normalise_path(edit.path)
        if error:
            errors.append(f"edit {n}: {error}")
            continue
        item = tree.get(path)
        if item is not None and item.type == "tree" and path not in work:
            errors.append(f"{path}: is a directory, not a file")
            continue
        if item is not None and item.type == "blob" and item.mode not in REGULAR_MODES and path not in work:
            errors.append(f"{path}: is a symbolic link; the bot changes regular files only")
            continue
        if item is not None and item.type == "commit":
            errors.append(f"{path}: is a submodule; the bot changes regular files only")
            continue
        if edit.action == "delete":
            if edit.content is not None or edit.blocks:
                errors.append(f"{path}: delete takes neither content nor blocks")
            elif not exists(path):
                errors.append(f"{path}: cannot delete, the file does not exist")
            else:
                work[path] = None
            continue
        if edit.action == "write":
            if edit.content is None or edit.blocks:
                errors.append(f"{path}: write needs the whole file in content, and no blocks")
                continue
            if path not in work and item is not None and item.type == "blob":
                size = item.size if item.size is not None else len(contents.get(path, b""))
                if size > WHOLE_FILE_MAX_BYTES:
                    errors.append(
                        f"{path}: is {size:,} bytes; change files over {WHOLE_FILE_MAX_BYTES:,} bytes "
                        "with edit and search/replace blocks, not by writing the whole file"
                    )
                    continue
            blocker = parent_is_file(path)
            if blocker:
                errors.append(f"{path}: cannot create it, {blocker} is a file")
                continue
            work[path] = edit.content
            continue
        # edit
        if edit.content is not None or not edit.blocks:
            errors.append(f"{path}: edit needs one or more search/replace blocks, and no content")
            continue
        if not exists(path):
            errors.append(f"{path}: cannot edit, the file does not exist (use write to create it)")
            continue
        if path in work:
            current = work[path]
        else:
            raw = contents.get(path)
            current = decoded(raw)
            if raw is None:
                errors.append(f"{path}: its current content was not read")
                continue
            if current is None:
                errors.append(f"{path}: is not UTF-8 text; the bot does not edit binary files")
                continue
        assert current is not None
        text, block_errors = apply_blocks(path, current, edit.blocks)
        errors += block_errors
        if not block_errors:
            work[path] = text
    if errors:
        return Applied([], errors)
    return Applied(_net_changes(work, tree, contents), [])


def _net_changes(work: Mapping[str, str | None], tree: Mapping[str, TreeItem], contents: Mapping[str, bytes]) -> list[Change]:
    changes: list[Change] = []
    for path in sorted(work):
        text = work[path]
        item = tree.get(path)
        existed = item is not None and item.type == "blob"
        if text is None:
            if existed:
                changes.append(Change(path, None, item.mode if item else "100644"))
            continue
        if existed and path in contents and contents[path] == text.encode("utf-8", "surrogatepass"):
            continue  # unchanged
        changes.append(Change(path, text, item.mode if existed and item else "100644"))
    return changes
