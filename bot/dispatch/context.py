"""One Context per delivery: the event, the GitHub session, the merged config, the model
routers, the ledger, the logger and dry_run. Handlers receive it and nothing else; there is no
global state. GitHub reads and writes take ``ctx.session``, not the Context."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import Config, ConfigError, Phase

if TYPE_CHECKING:
    from bot.dispatch.events import Event
    from bot.github.session import Session
    from bot.llm.model_router import ModelRouter
    from bot.llm.result import ModelResult
    from bot.settings import Settings
    from bot.store.holds import Holds
    from bot.store.ledger import Ledger

DETAIL_CHARS = 2_000  # of an error, in a job's detail and in the comment that reports it
ACTIONS_BOT = "github-actions[bot]"  # who a push with a workflow's own GITHUB_TOKEN is made as
WORKFLOW_TOKEN_NOTE = (
    "This branch was pushed with the workflow's own `GITHUB_TOKEN`, and GitHub starts no workflow "
    "for such a push (its rule against recursion): CI will not run on it, so the bot will not see "
    "CI fail there either. Give the Action a GitHub App token (`actions/create-github-app-token`) "
    "or a fine-grained token as `github-token` (see docs/action.md)."
)


@dataclass
class JobResult:
    """What one job did, for the Action's summary and outputs and for the logs."""

    phase: str
    outcome: str  # "ok", "failed", "skipped"
    target: str = ""
    profile: str = ""
    model: str = ""
    reason: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    url: str = ""
    detail: str = ""
    notes: list[str] = field(default_factory=list)  # for the people running it (the job summary)

    def add_model(self, result: ModelResult[Any]) -> None:
        self.profile, self.model, self.reason = result.profile, result.model, result.reason
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.cost_usd += result.cost_usd

    def link(self, written: Mapping[str, Any] | None) -> None:
        """Point the result at what the job wrote (its ``html_url``)."""
        self.url = str((written or {}).get("html_url") or "")

    def note_pushed_as(self, login: str | None) -> None:
        """The job pushed a branch as ``login`` (the pull request's author): say so when that
        is the workflow's own token, whose pushes start no CI."""
        if login == ACTIONS_BOT and WORKFLOW_TOKEN_NOTE not in self.notes:
            self.notes.append(WORKFLOW_TOKEN_NOTE)

    def skip(self, detail: str, written: Mapping[str, Any] | None = None) -> None:
        self.outcome, self.detail = "skipped", detail
        if written is not None:
            self.link(written)

    def fail(self, detail: str | BaseException, written: Mapping[str, Any] | None = None) -> None:
        """The job did not do its work; ``written`` is the comment that says so."""
        if isinstance(detail, BaseException):
            detail = f"{type(detail).__name__}: {detail}"
        self.outcome, self.detail = "failed", detail[:DETAIL_CHARS]
        if written is not None:
            self.link(written)


@dataclass
class Context:
    event: Event
    session: Session
    config: Config
    settings: Settings
    ledger: Ledger
    holds: Holds
    log: logging.LoggerAdapter[logging.Logger]
    dry_run: bool = False
    config_error: str | None = None  # the repository's config was invalid: say so, use the operator's
    results: list[JobResult] = field(default_factory=list)
    _models: dict[tuple[str, str], ModelRouter] = field(default_factory=dict)

    @property
    def repo(self) -> str:
        return self.session.repo

    @property
    def branch_hint(self) -> str | None:
        """The default branch as the event names it: reads can start on it at once (it is
        read again only if the repository's answer names another)."""
        repository = self.event.payload.get("repository")
        branch = repository.get("default_branch") if isinstance(repository, dict) else None
        return branch if isinstance(branch, str) and branch else None

    async def can_write(self, login: str | None) -> bool:
        return await self.session.can_write(login)

    def job_id(self, phase: str, target: str) -> str:
        return f"{self.event.delivery_id or 'local'}:{phase}:{target}"

    def models(self, job: str, phase: Phase) -> ModelRouter:
        """The model router for one phase of one job (a job may call two phases, as a fix round
        does: both record under the job, so its per-job cap covers both); refuses when the
        repository's config is invalid."""
        if self.config_error:
            raise ConfigError(self.config_error)
        if (job, phase) not in self._models:
            from bot.llm.model_router import ModelRouter

            self._models[job, phase] = ModelRouter(self.config, self.ledger, repo=self.repo, job=job, phase=phase)
        return self._models[job, phase]

    @asynccontextmanager
    async def job(self, phase: str, target: str) -> AsyncIterator[JobResult]:
        """Record a job in the ledger; its outcome is 'failed' if the body raises."""
        job_id = self.job_id(phase, target)
        result = JobResult(phase=phase, outcome="ok", target=target)
        self.results.append(result)
        self.ledger.start_job(job_id, self.repo, phase, target, event=self.event.key)
        started = time.monotonic()
        try:
            yield result
        except BaseException as exc:
            result.outcome = "failed"
            result.detail = result.detail or f"{type(exc).__name__}: {exc}"
            self.ledger.finish_job(job_id, "failed", result.detail, time.monotonic() - started, result.url)
            raise
        self.ledger.finish_job(job_id, result.outcome, result.detail or None, time.monotonic() - started, result.url)
