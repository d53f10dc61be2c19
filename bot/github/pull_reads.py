"""What a pull request changes, read from the API only: no checkout, no code from the PR runs.

The reads are shaped for very large pull requests (3,000 files, 300,000 changed lines):

- the file list comes from the paginated files API at 100 a page. The pull request says how
  many files it changes, so every page is requested at once (bounded by
  ``limits.fetch_concurrency``) instead of following ``Link`` headers one round trip at a time;
  only when the last page still names a next one (a push since) are further pages followed.
  GitHub lists at most 3,000 files; the rest are counted, not invented. The diff media type is
  never used: GitHub answers 406 above 300 files.
- the head's repository tree is one recursive Git Data API read; it gives every path and blob
  size, so the packer can choose which contents to fetch before fetching any.
- contents are Git Data API blobs by SHA (the files API names each head blob), read with the
  same bounded concurrency, and only for what the packer chose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, TypeVar

from bot.aio import bounded
from bot.github.diffmap import HUNK_HEADER
from bot.github.issue_reads import clean
from bot.github.rest import decoded_content, get_json, get_json_or_none

if TYPE_CHECKING:
    from bot.github.session import Session

MAX_LISTED_FILES = 3000  # GitHub's limit for the files API
PER_PAGE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class PullInfo:
    number: int
    title: str  # cleaned
    body: str  # cleaned
    author: str
    draft: bool
    head_sha: str
    head_ref: str
    head_repo: str  # owner/name the head branch lives in (a fork's name for a fork)
    base_sha: str
    base_ref: str
    base_repo: str
    additions: int
    deletions: int
    changed_files: int
    labels: tuple[str, ...] = ()
    state: str = "open"

    @property
    def changed_lines(self) -> int:
        return self.additions + self.deletions


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def pull_info(data: dict[str, Any]) -> PullInfo:
    """From a pull request as the API or a webhook payload shows it."""
    head, base = data.get("head") or {}, data.get("base") or {}
    return PullInfo(
        number=_int(data.get("number")),
        title=clean(data.get("title"), 1_000),
        body=clean(data.get("body")),
        author=str((data.get("user") or {}).get("login") or ""),
        draft=bool(data.get("draft")),
        head_sha=str(head.get("sha") or ""),
        head_ref=str(head.get("ref") or ""),
        head_repo=str((head.get("repo") or {}).get("full_name") or ""),
        base_sha=str(base.get("sha") or ""),
        base_ref=str(base.get("ref") or ""),
        base_repo=str((base.get("repo") or {}).get("full_name") or ""),
        additions=_int(data.get("additions")),
        deletions=_int(data.get("deletions")),
        changed_files=_int(data.get("changed_files")),
        labels=tuple(str(lab.get("name")) for lab in data.get("labels") or [] if isinstance(lab, dict)),
        state=str(data.get("state") or "open"),
    )


async def read_pull(session: Session, number: int) -> PullInfo:
    """The pull request now (a queued job may run after another push than its event's)."""
    return pull_info(await get_json(session.gh, f"/repos/{session.repo}/pulls/{number}"))


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | removed | modified | renamed | copied | changed | unchanged
    additions: int
    deletions: int
    sha: str  # the head blob ("" when removed)
    patch: str | None  # None: binary, or a diff too large for GitHub to show
    previous_path: str | None = None

    @cached_property
    def shown_size(self) -> int | None:
        """The size in bytes of the head version when the diff shows every line of it (its hunks
        run on from line 1 without a gap), else None. Worked out once, in the thread that renders
        the file's page as it arrives, so choosing context files later only compares sizes."""
        return shown_size(self.patch) if self.patch is not None else None


def shown_size(patch: str) -> int | None:
    """See ``ChangedFile.shown_size``: the head-side lines' bytes, the marker out and the newline in."""
    if not patch.startswith("@@"):
        return None
    expect, total, last_new = 1, 0, False
    for raw in patch.split("\n"):
        first = raw[:1]
        if first == "@" and (match := HUNK_HEADER.match(raw)):
            if int(match.group(1)) != expect:
                return None
            last_new = False
        elif first == "\\":  # "\ No newline at end of file" after a head-side line
            total -= 1 if last_new else 0
        elif first == "+" or first == " ":
            total += len(raw) if raw.isascii() else len(raw.encode())
            expect += 1
            last_new = True
        else:
            last_new = False
    return total


@dataclass(frozen=True)
class FileList:
    files: list[ChangedFile]
    not_listed: int = 0  # changed files the pull request counts that GitHub did not list
    requests: int = 0
    capped: bool = False  # the list stopped at GitHub's 3,000; else a shortfall is a push while it was read


def changed_file(item: dict[str, Any]) -> ChangedFile:
    """A file of the files API's or the compare API's list (the two answer the same shape)."""
    status = str(item.get("status") or "modified")
    patch = item.get("patch")
    return ChangedFile(
        path=str(item.get("filename") or ""),
        status=status,
        additions=_int(item.get("additions")),
        deletions=_int(item.get("deletions")),
        sha="" if status == "removed" else str(item.get("sha") or ""),
        patch=patch if isinstance(patch, str) else None,
        previous_path=item.get("previous_filename") or None,
    )


async def list_files(session: Session, pull: PullInfo,
                     on_page: Callable[[int, list[ChangedFile]], None] | None = None) -> FileList:
    """Every changed file GitHub lists, in its order (by path). ``on_page`` sees each page's
    number and files as soon as it arrives, so work on them overlaps the other pages' round trips."""
    path = f"/repos/{session.repo}/pulls/{pull.number}/files"
    expected = min(max(pull.changed_files, 1), MAX_LISTED_FILES)
    pages = -(-expected // PER_PAGE)

    async def page(n: int) -> tuple[list[ChangedFile], bool]:
        resp = await session.gh.arequest("GET", path, params={"per_page": PER_PAGE, "page": n})
        files = [changed_file(i) for i in resp.json() or [] if isinstance(i, dict)]
        if on_page is not None:
            on_page(n, files)
        return files, 'rel="next"' in resp.headers.get("link", "")

    found = await bounded(session.fetch_limit, [partial(page, n) for n in range(1, pages + 1)])
    requests = pages
    files = [f for chunk, _ in found for f in chunk]  # the pages' own objects: on_page's work stays on them
    more = found[-1][1] if found else False
    while more and len(files) < MAX_LISTED_FILES:  # the pull request grew since it was read
        pages += 1
        chunk, more = await page(pages)
        requests += 1
        files += chunk
    files = files[:MAX_LISTED_FILES]
    listed = FileList(files, not_listed=max(0, pull.changed_files - len(files)), requests=requests,
                      capped=len(files) >= MAX_LISTED_FILES)
    if pull.head_sha:
        session.memo[_files_key(pull)] = listed
    return listed


def _files_key(pull: PullInfo) -> str:
    return f"files:{pull.number}@{pull.head_sha}"


async def changed_files(session: Session, pull: PullInfo) -> FileList:
    """The file list at ``pull``'s head: as another handler of this delivery already read it,
    else read now (a pull request of 3,000 files takes 30 requests to list)."""
    known = session.memo.get(_files_key(pull))
    return known if isinstance(known, FileList) and pull.head_sha else await list_files(session, pull)


@dataclass(frozen=True)
class TreeFile:
    path: str
    sha: str
    size: int


@dataclass(frozen=True)
class RepoTree:
    files: list[TreeFile]  # blobs only (no submodules, no directories)
    truncated: bool = False  # GitHub stopped listing (very large repositories)
    by_path: dict[str, TreeFile] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, files: list[TreeFile], truncated: bool = False) -> RepoTree:
        return cls(files, truncated, {f.path: f for f in files})


async def read_tree(session: Session, ref: str) -> RepoTree:
    """Every file at ``ref`` (a commit SHA or branch), in one recursive read."""
    data = await get_json(session.gh, f"/repos/{session.repo}/git/trees/{ref}", {"recursive": "1"})
    files = [
        TreeFile(str(e.get("path") or ""), str(e.get("sha") or ""), _int(e.get("size")))
        for e in (data or {}).get("tree") or []
        if isinstance(e, dict) and e.get("type") == "blob" and e.get("mode") != "120000"
    ]
    return RepoTree.of(files, bool((data or {}).get("truncated")))


def decode_text(raw: bytes) -> str | None:
    """UTF-8 text, or None for what is binary (a NUL byte, or not UTF-8)."""
    if b"\0" in raw[:8000]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


async def read_blob(session: Session, sha: str) -> bytes:
    return decoded_content(await get_json(session.gh, f"/repos/{session.repo}/git/blobs/{sha}")) or b""


async def read_texts(session: Session, wanted: list[tuple[str, str]]) -> dict[str, str | None]:
    """path -> text (None when binary) for (path, blob SHA) pairs, with bounded concurrency.
    A fork's head blobs are readable from the base repository: GitHub keeps ``refs/pull/N/head``."""

    async def one(sha: str) -> str | None:
        return decode_text(await read_blob(session, sha))

    texts = await bounded(session.fetch_limit, [partial(one, sha) for _, sha in wanted])
    return {path: text for (path, _), text in zip(wanted, texts, strict=True)}


async def read_text_at(session: Session, path: str, ref: str) -> str | None:
    """A file's text at ``ref`` from the contents API; None when there is no such file (or it
    is a folder, or binary)."""
    data = await get_json_or_none(session.gh, f"/repos/{session.repo}/contents/{path}", {"ref": ref})
    if not isinstance(data, dict) or data.get("type") != "file":
        return None
    raw = decoded_content(data)
    return decode_text(raw) if raw is not None else None
