"""What a phase tells the model about the repository and the issue: shared reads, done concurrently.

The spec and implement phases both need the repository's description, default branch, top-level
tree, README head and contribution rules, and the issue with its writers' comments. Every read
that does not depend on another runs in one ``asyncio.gather``, so the whole context costs one
round trip, and a second only for the permissions of commenters other than the bot, whatever
its size. ``bot.aio.started`` lets a handler begin these reads while it still checks the labeler's
permission.

Everything from GitHub that a person wrote is untrusted: it is passed through
``bot.safety.clean_untrusted`` here, once, and comments by non-writers are left out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.github.rest import decoded_content, get_json, get_json_or_none, paginate
from bot.safety import clean_untrusted

if TYPE_CHECKING:
    from bot.github.session import Session

README_CHARS = 4_000  # the head of a README says what the project is; the rest is detail
CONTRIBUTING_CHARS = 8_000
TEXT_CHARS = 30_000  # per issue body or comment: a pasted log must not crowd out the rest
TREE_ENTRIES = 200
# where GitHub itself looks for contribution rules, in its order
CONTRIBUTING_PATHS = ("CONTRIBUTING.md", ".github/CONTRIBUTING.md", "docs/CONTRIBUTING.md")


@dataclass(frozen=True)
class TreeEntry:
    path: str
    type: str  # "file" | "dir" | "symlink" | "submodule"


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    description: str
    default_branch: str
    tree: list[TreeEntry]  # top level only, default branch
    readme: str  # cleaned head of the README ("" when there is none)
    readme_truncated: bool = False
    contributing: str = ""  # cleaned contribution rules ("" when none or not asked for)
    contributing_path: str = ""


@dataclass(frozen=True)
class ThreadComment:
    author: str
    body: str  # cleaned
    created_at: str = ""


@dataclass(frozen=True)
class IssueThread:
    number: int
    title: str  # cleaned
    body: str  # cleaned
    author: str
    labels: list[str]
    is_pull_request: bool
    comments: list[ThreadComment]  # writers' comments only, cleaned, oldest first
    raw_comments: list[dict[str, Any]] = field(default_factory=list)  # every comment, as GitHub sent it
    left_out: int = 0  # comments dropped because their author cannot write


@dataclass(frozen=True)
class IssueReads:
    repo: RepoInfo
    issue: IssueThread


def _clip(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters, cut at a line end when one is near."""
    if len(text) <= limit:
        return text, False
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + "\n[…]", True


def clean(text: str | None, limit: int = TEXT_CHARS) -> str:
    return _clip(clean_untrusted(text or ""), limit)[0].strip()




async def _tree(session: Session, branch: str) -> list[TreeEntry]:
    data = await get_json_or_none(session.gh, f"/repos/{session.repo}/git/trees/{branch}")
    kinds: dict[object, str] = {"blob": "file", "tree": "dir", "commit": "submodule"}
    entries = (data or {}).get("tree") or []
    return [
        TreeEntry(str(e.get("path", "")), "symlink" if e.get("mode") == "120000" else kinds.get(e.get("type"), "file"))
        for e in entries[:TREE_ENTRIES]
        if isinstance(e, dict)
    ]


async def _contributing(session: Session) -> tuple[str, str]:
    found = await asyncio.gather(
        *(get_json_or_none(session.gh, f"/repos/{session.repo}/contents/{p}") for p in CONTRIBUTING_PATHS))
    for path, data in zip(CONTRIBUTING_PATHS, found, strict=True):
        if isinstance(data, dict) and data.get("type") == "file":
            return path, clean(_text(data), CONTRIBUTING_CHARS)
    return "", ""


def _text(data: Any) -> str:
    return (decoded_content(data) or b"").decode("utf-8", errors="replace")


async def repo_info(session: Session, *, branch_hint: str | None = None, contributing: bool = False,
                    tree: bool = True) -> RepoInfo:
    """Description, default branch, top-level tree and README head (and, when asked, the
    contribution rules) of the event's repository, read concurrently. ``tree=False`` for a phase
    that lists the whole tree itself (implement reads it recursively): no second read."""
    hint = branch_hint
    reads: list[Any] = [
        get_json(session.gh, f"/repos/{session.repo}"),
        get_json_or_none(session.gh, f"/repos/{session.repo}/readme"),
        _tree(session, hint) if hint and tree else asyncio.sleep(0, []),
        _contributing(session) if contributing else asyncio.sleep(0, ("", "")),
    ]
    meta, readme, top_level, (rules_path, rules) = await asyncio.gather(*reads)
    branch = str(meta.get("default_branch") or hint or "main")
    if tree and branch != hint:  # the payload had no branch, or it was renamed since: read the right tree
        top_level = await _tree(session, branch)
    readme_text, truncated = _clip(clean_untrusted(_text(readme)), README_CHARS)
    return RepoInfo(
        full_name=str(meta.get("full_name") or session.repo),
        description=clean(meta.get("description"), 1_000),
        default_branch=branch,
        tree=top_level,
        readme=readme_text.strip(),
        readme_truncated=truncated,
        contributing=rules,
        contributing_path=rules_path,
    )


async def issue_thread(session: Session, number: int) -> IssueThread:
    """The issue (read now, not from the payload, which may be stale by the time a queued job
    runs) and the comments of users who can write, all cleaned."""

    async def comments_and_writers() -> tuple[list[Any], list[dict[str, Any]]]:
        # the commenters' permissions are asked as soon as the comments arrive, not after the issue
        comments = await paginate(session.gh, f"/repos/{session.repo}/issues/{number}/comments")
        return comments, await session.writer_comments(comments)

    issue, (comments, trusted) = await asyncio.gather(
        get_json(session.gh, f"/repos/{session.repo}/issues/{number}"), comments_and_writers()
    )
    return IssueThread(
        number=number,
        title=clean(issue.get("title"), 1_000),
        body=clean(issue.get("body")),
        author=str((issue.get("user") or {}).get("login") or ""),
        labels=[str(lab.get("name")) for lab in issue.get("labels") or [] if isinstance(lab, dict)],
        is_pull_request=issue.get("pull_request") is not None,
        comments=[
            ThreadComment(
                author=str((c.get("user") or {}).get("login") or ""),
                body=clean(c.get("body")),
                created_at=str(c.get("created_at") or ""),
            )
            for c in trusted
        ],
        raw_comments=list(comments),
        left_out=len(comments) - len(trusted),
    )


async def read_issue(session: Session, number: int, *, branch_hint: str | None = None, contributing: bool = False,
                     tree: bool = True) -> IssueReads:
    """``repo_info`` and ``issue_thread`` together, concurrently."""
    repo, issue = await asyncio.gather(
        repo_info(session, branch_hint=branch_hint, contributing=contributing, tree=tree),
        issue_thread(session, number))
    return IssueReads(repo=repo, issue=issue)
