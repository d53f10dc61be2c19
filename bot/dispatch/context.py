"""One Context per delivery: the event, the GitHub client, the merged config, the model router,
the logger and dry_run. Handlers receive it and nothing else; there is no global state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any


from bot.config import Config, ConfigError
from bot.dispatch.events import Event
from bot.github.clients import http_status
from bot.store.holds import Holds
from bot.store.ledger import Ledger
from bot.settings import Settings
from bot.github.writes import Writes

if TYPE_CHECKING:
    from githubkit import GitHub

    from bot.llm.model_router import ModelResult, ModelRouter

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
ROLES = frozenset({"admin", "maintain", "write", "triage", "read", "none"})


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

    def add_model(self, result: ModelResult) -> None:
        self.profile, self.model, self.reason = result.profile, result.model, result.reason
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.cost_usd += result.cost_usd


@dataclass
class Context:
    event: Event
    gh: GitHub[Any]
    writes: Writes
    config: Config
    settings: Settings
    ledger: Ledger
    holds: Holds
    log: logging.LoggerAdapter[logging.Logger]
    dry_run: bool = False
    config_error: str | None = None  # the repository's config was invalid: say so, use the operator's
    results: list[JobResult] = field(default_factory=list)
    _models: dict[str, ModelRouter] = field(default_factory=dict)
    _permissions: dict[str, asyncio.Future[str]] = field(default_factory=dict)

    @property
    def repo(self) -> str:
        if not self.event.repo:
            raise ValueError(f"event {self.event.key} names no repository")
        return self.event.repo

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def job_id(self, phase: str, target: str) -> str:
        return f"{self.event.delivery_id or 'local'}:{phase}:{target}"

    def models(self, job: str, phase: str) -> ModelRouter:
        """The model router for one job; refuses when the repository's config is invalid."""
        if self.config_error:
            raise ConfigError(self.config_error)
        if job not in self._models:
            from bot.llm.model_router import ModelRouter

            self._models[job] = ModelRouter(self.config, self.ledger, repo=self.repo, job=job, phase=phase)
        return self._models[job]

    async def permission(self, login: str) -> str:
        """The user's permission on this repository (cached for the job): admin, maintain,
        write, triage, read or none.

        The cache holds the lookup itself, so callers asking at the same time (the labeler's
        check and the context reads started alongside it) share one request. A caller that is
        cancelled (reads dropped because the labeler cannot write) does not cancel it for the
        others; a failed lookup is not cached, so the next caller asks again."""
        lookup = self._permissions.get(login)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup_permission(login))
            lookup.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved
            self._permissions[login] = lookup
        try:
            return await asyncio.shield(lookup)
        except Exception:
            if self._permissions.get(login) is lookup and lookup.done():
                del self._permissions[login]
            raise

    async def _lookup_permission(self, login: str) -> str:
        try:
            resp = await self.gh.arequest("GET", f"/repos/{self.repo}/collaborators/{login}/permission")
            data = resp.json()
            role = data.get("role_name") or ""
            if role not in ROLES:
                # a custom repository role: GitHub reports the base role it extends as
                # the legacy ``permission`` (admin, write, read or none)
                role = data.get("permission") or "none"
        except Exception as exc:
            if http_status(exc) != 404:
                raise
            role = "none"
        return str(role)

    async def can_write(self, login: str | None) -> bool:
        return bool(login) and await self.permission(str(login)) in WRITE_PERMISSIONS

    @asynccontextmanager
    async def job(self, phase: str, target: str) -> AsyncIterator[JobResult]:
        """Record a job in the ledger; its outcome is 'failed' if the body raises."""
        job_id = self.job_id(phase, target)
        result = JobResult(phase=phase, outcome="ok", target=target)
        self.results.append(result)
        self.ledger.start_job(job_id, self.repo, phase, target)
        started = time.monotonic()
        try:
            yield result
        except BaseException as exc:
            result.outcome = "failed"
            result.detail = result.detail or f"{type(exc).__name__}: {exc}"
            self.ledger.finish_job(job_id, "failed", result.detail, time.monotonic() - started)
            raise
        self.ledger.finish_job(job_id, result.outcome, result.detail or None, time.monotonic() - started)
