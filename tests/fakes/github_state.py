"""The fake GitHub's in-memory world: users, repositories, issues, pulls, reviews, tokens.

Plain dataclasses guarded by one re-entrant lock: seeding runs on the test's thread while the
server answers on its own thread, and every route handler holds the lock for its whole body.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.fakes.github_diff import FileDiff, diff_trees
from tests.fakes.github_git import GitStore, Signature
from tests.fakes.github_state_ci import CIState

ROLES = ("admin", "maintain", "write", "triage", "read", "none")
# the collaborator permission API reports the legacy base role next to role_name
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # User | Bot | Organization


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Reaction:
    id: int
    content: str
    user: User
    created_at: str


@dataclass
class Comment:
    id: int
    repo: str  # full name
    issue_number: int
    body: str
    user: User
    created_at: str
    updated_at: str
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: User
    created_at: str
    updated_at: str
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    locked: bool = False
    assignees: list[str] = field(default_factory=list)
    comment_ids: list[int] = field(default_factory=list)
    is_pull: bool = False


@dataclass
class ReviewComment:
    id: int
    review_id: int
    path: str
    body: str
    line: int | None
    side: str | None
    start_line: int | None
    start_side: str | None
    position: int | None
    commit_id: str
    user: User
    created_at: str


@dataclass
class Review:
    id: int
    pull_number: int
    user: User
    body: str
    state: str  # PENDING | COMMENTED | CHANGES_REQUESTED | APPROVED
    commit_id: str
    submitted_at: str | None
    comments: list[ReviewComment] = field(default_factory=list)


@dataclass
class Pull:
    number: int
    id: int
    head_repo: str  # full name of the repository holding the head branch
    head_ref: str
    base_ref: str
    draft: bool = False
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: str | None = None  # login
    maintainer_can_modify: bool = False
    review_ids: list[int] = field(default_factory=list)
    last_head: str = ""  # kept so a PR still answers after its head branch is deleted
    # the base branch's head when the PR was merged: a merged PR keeps showing its own commits
    # and files, as GitHub's does, though its base branch now holds them
    merged_base: str | None = None


@dataclass
class Repo:
    id: int
    owner: User
    name: str
    description: str | None
    private: bool
    fork: bool
    default_branch: str
    created_at: str
    parent: str | None = None  # full name of the repository a fork was made from
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit SHA
    labels: dict[str, Label] = field(default_factory=dict)  # by lower-cased name
    issues: dict[int, Issue] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # login (lower) -> role
    pushed_at: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1

    def head(self, branch: str) -> str | None:
        return self.refs.get(f"refs/heads/{branch}")


@dataclass
class Token:
    value: str
    login: str
    installation_id: int | None = None
    expires_at: str | None = None


class State:
    """Everything the fake knows; `reset()` returns it to empty."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.store = GitStore()
            self.users: dict[str, User] = {}
            self.repos: dict[str, Repo] = {}
            self.comments: dict[int, Comment] = {}
            self.reviews: dict[int, Review] = {}
            self.tokens: dict[str, Token] = {}
            self._ids = itertools.count(1001)
            self._diffs: dict[tuple[str, str], list[FileDiff]] = {}
            self.ci = CIState()  # checks, Actions and code scanning (github_state_ci.py)

    def new_id(self) -> int:
        return next(self._ids)

    def user(self, login: str, type_: str | None = None) -> User:
        """Every login exists: the fake creates users on first mention."""
        key = login.lower()
        if key not in self.users:
            kind = type_ or ("Bot" if login.endswith("[bot]") else "User")
            self.users[key] = User(login, self.new_id(), kind)
        return self.users[key]

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def role(self, repo: Repo, login: str) -> str:
        """What GitHub reports: explicit grants, the owner is admin, and an existing
        non-collaborator gets "read" on a public repository and "none" on a private one."""
        if login.lower() in repo.roles:
            return repo.roles[login.lower()]
        if login.lower() == repo.owner.login.lower():
            return "admin"
        return "none" if repo.private else "read"

    def signature(self, login: str, date: str | None = None) -> Signature:
        user = self.user(login)
        return Signature(login, f"{user.id}+{login}@users.noreply.github.com", date or now_iso())

    def diff(self, base_commit: str, head_commit: str) -> list[FileDiff]:
        """Three-dot diff (from the merge base), as GitHub shows a pull request; cached."""
        key = (base_commit, head_commit)
        if key not in self._diffs:
            merge_base = self.store.merge_base(base_commit, head_commit) or base_commit
            base_tree = self.store.commits[merge_base].tree
            head_tree = self.store.commits[head_commit].tree
            self._diffs[key] = diff_trees(self.store, base_tree, head_tree)
        return self._diffs[key]

    def pull_shas(self, repo: Repo, pull: Pull) -> tuple[str, str]:
        """(base SHA, head SHA) now: a PR follows both branches as they move."""
        if pull.merged_base is not None:
            return pull.merged_base, pull.last_head
        head_repo = self.repo(pull.head_repo) or repo
        pull.last_head = head_repo.head(pull.head_ref) or pull.last_head
        base = repo.head(pull.base_ref) or ""
        return base, pull.last_head
