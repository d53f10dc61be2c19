"""The fake GitHub's CI world: check suites and runs, workflow runs and jobs, code scanning.

Kept apart from github_state.py so the Checks, Actions and code scanning fakes can grow without
touching the repository model. GitHub links these objects in one way, and the dataclasses keep
that shape: an app's check suite per commit holds check runs; a GitHub Actions workflow run owns
its own check suite, and each of its jobs *is* a check run (one id for both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTIONS_SLUG = "github-actions"


@dataclass
class Annotation:
    path: str
    start_line: int
    end_line: int
    annotation_level: str  # notice | warning | failure
    message: str
    title: str | None = None
    raw_details: str | None = None
    start_column: int | None = None
    end_column: int | None = None


@dataclass
class CheckRun:
    id: int
    repo: str  # full name
    suite_id: int
    head_sha: str
    name: str
    status: str  # queued | in_progress | completed
    conclusion: str | None
    started_at: str | None
    completed_at: str | None
    app_slug: str
    external_id: str
    details_url: str | None
    output: dict[str, str | None] = field(default_factory=dict)  # title, summary, text
    annotations: list[Annotation] = field(default_factory=list)


@dataclass
class CheckSuite:
    id: int
    repo: str
    head_sha: str
    head_branch: str | None
    app_slug: str
    status: str
    conclusion: str | None
    before: str | None
    created_at: str
    updated_at: str
    run_ids: list[int] = field(default_factory=list)


@dataclass
class Step:
    name: str
    number: int
    status: str
    conclusion: str | None
    started_at: str | None
    completed_at: str | None


@dataclass
class Job:
    """A GitHub Actions job; its id is the id of its check run."""

    id: int
    run_id: int
    name: str
    steps: list[Step]
    log: bytes | None  # None: GitHub has no log for it (queued, or expired)
    labels: list[str] = field(default_factory=lambda: ["ubuntu-latest"])
    runner_name: str | None = "GitHub Actions 2"


@dataclass
class WorkflowRun:
    id: int
    repo: str
    suite_id: int
    workflow_id: int
    name: str
    path: str  # .github/workflows/ci.yml
    head_sha: str
    head_branch: str | None
    event: str
    status: str
    conclusion: str | None
    run_number: int
    actor: str
    display_title: str
    created_at: str
    updated_at: str
    run_attempt: int = 1
    job_ids: list[int] = field(default_factory=list)


@dataclass
class SarifUpload:
    id: str
    repo: str
    commit_sha: str
    ref: str
    document: Any  # the decoded SARIF log (JSON), whatever it holds
    received_at: str
    errors: list[str] = field(default_factory=list)  # non-empty: processing_status "failed"


@dataclass
class AlertInstance:
    ref: str
    commit_sha: str
    state: str  # open | fixed
    message: str
    path: str
    start_line: int
    end_line: int
    start_column: int | None
    end_column: int | None
    category: str


@dataclass
class Alert:
    number: int
    key: tuple[Any, ...]  # what makes two results the same alert (see github_scanning.py)
    rule: dict[str, Any]  # code-scanning-alert-rule-summary fields
    tool: dict[str, Any]  # name, version, guid
    created_at: str
    updated_at: str
    instances: dict[str, AlertInstance] = field(default_factory=dict)  # by ref
    fixed_at: str | None = None


@dataclass
class ScanningRepo:
    """One repository's code scanning: the token's permission, uploads and alerts."""

    security_events: str | None = None  # None | "read" | "write", what the token was granted
    uploads: list[SarifUpload] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


class CIState:
    """Everything CI-shaped the fake knows; a new one per `State.reset()`."""

    def __init__(self) -> None:
        self.check_runs: dict[int, CheckRun] = {}
        self.check_suites: dict[int, CheckSuite] = {}
        self.workflow_runs: dict[int, WorkflowRun] = {}
        self.jobs: dict[int, Job] = {}
        self.workflow_ids: dict[tuple[str, str], int] = {}  # (repo, path) -> workflow id
        self.app_ids: dict[str, int] = {}  # slug -> id, for third-party apps
        self.scanning: dict[str, ScanningRepo] = {}  # by lower-cased full name

    def scan(self, full_name: str) -> ScanningRepo:
        return self.scanning.setdefault(full_name.lower(), ScanningRepo())

    def suites_for(self, repo: str, sha: str) -> list[CheckSuite]:
        return [s for s in self.check_suites.values()
                if s.repo.lower() == repo.lower() and s.head_sha == sha]

    def runs_for(self, repo: str, sha: str) -> list[CheckRun]:
        return [r for r in self.check_runs.values()
                if r.repo.lower() == repo.lower() and r.head_sha == sha]
