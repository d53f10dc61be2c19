"""The model router: one call of one phase, routed to a profile, a model and its fallbacks.

``bot.llm.plan`` decides (rules, windows, escalation); this module checks the budgets, calls
through one ``litellm.Router``, falls back within the profile, records every attempt in the
ledger, and reads structured answers (``bot.llm.structured``) with one repair request.

litellm is imported on the first call, not when this module is imported: handlers import it
for the exception types, and events that need no model must not pay seconds for litellm.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from bot.config import Config, ConfigError, Phase
from bot.llm import catalog, structured
from bot.llm import plan as modelplan
from bot.llm.errors import AllModelsFailed, BudgetExceeded, InvalidOutput, NoModelFits
from bot.llm.prompt_cache import Messages, cached_tokens, for_model
from bot.llm.result import D, Decision, ModelResult
from bot.store.ledger import Call, Ledger

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class _Answer:
    """One successful call."""

    candidate: modelplan.Candidate
    text: str
    reason: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    tokens_cached: int = 0


class ModelRouter:
    def __init__(self, config: Config, ledger: Ledger, *, repo: str, job: str, phase: Phase) -> None:
        self.config = config
        self.ledger = ledger
        self.repo = repo
        self.job = job
        self.phase = phase
        self._router: Any = None  # the litellm.Router, built on the first call
        self._unusable: dict[str, str] = {}  # model group -> why it cannot be called

    # -- deciding (no call) ----------------------------------------------------------------------

    def count_tokens(self, messages: Messages | str, model: str | None = None) -> int:
        """Prompt tokens, counted with the tokenizer of ``model`` (default: the first model of
        the profile the phase routes to)."""
        if model is None:
            profile, _ = modelplan.route_profile(self.config, self.phase)
            model = self.config.models(profile)[0].model  # type: ignore[arg-type]
        return catalog.count_tokens(messages, model)

    def window(self, profile: str) -> int:
        """The largest input window of the profile."""
        return modelplan.largest_window(self.config, profile)

    def decide(self, phase: str, *, tokens: int = 0, labels: Iterable[str] = (), profile: str | None = None) -> Decision:
        plan = self._plan(phase, tokens, labels, profile, None)
        first = plan.candidates[0]
        return Decision(phase, plan.profile, first.spec, plan.reason, first.window, tokens,
                        list(plan.skipped), plan.escalated_from)

    def _plan(self, phase: str, tokens: int, labels: Iterable[str], profile: str | None, reason: str | None) -> modelplan.Plan:
        plan = modelplan.plan(self.config, phase, tokens=tokens, labels=labels, profile=profile, reason=reason)
        if not plan.candidates:
            raise NoModelFits(plan.no_fit())
        return plan

    # -- calling ---------------------------------------------------------------------------------

    @overload
    async def complete(
        self, phase: str, messages: Messages | str, *, labels: Iterable[str] = (),
        response_model: type[M], profile: str | None = None,
        reason: str | None = None, max_output_tokens: int | None = None,
    ) -> ModelResult[M]: ...

    @overload
    async def complete(
        self, phase: str, messages: Messages | str, *, labels: Iterable[str] = (),
        response_model: None = None, profile: str | None = None,
        reason: str | None = None, max_output_tokens: int | None = None,
    ) -> ModelResult[None]: ...

    async def complete(
        self, phase: str, messages: Messages | str, *, labels: Iterable[str] = (),
        response_model: type[M] | None = None, profile: str | None = None,
        reason: str | None = None, max_output_tokens: int | None = None,
    ) -> ModelResult[M] | ModelResult[None]:
        """Route, check the budgets, call with fallbacks; with ``response_model``, ask for JSON
        that fits it, validate, and send one repair request before giving up."""
        base: Messages = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
        labels = list(labels)
        tokenizer = self._tokenizer(phase, labels, profile)
        native = False
        sent = base
        if response_model is not None:  # counted with the longer (fenced-block) instructions
            sent = structured.with_instructions(base, response_model, native=False)
        plan = self._plan(phase, catalog.count_tokens(sent, tokenizer), labels, profile, reason)
        if response_model is not None:
            native = catalog.supports_response_schema(plan.candidates[0].spec)
            sent = structured.with_instructions(base, response_model, native)
        extra: dict[str, Any] = {"max_output_tokens": max_output_tokens, "schema": response_model}
        first = await self._call(plan, sent, plan.tokens, plan.candidates, plan.reason, extra)
        if response_model is None:
            return self._result(plan, [first], None)
        try:
            return self._result(plan, [first], structured.parse(first.text, response_model))
        except structured.OutputInvalid as invalid:
            problems = invalid.errors
        # one repair request, to the model that answered (or, should it fail, the ones after it)
        repair = structured.repair_messages(sent, first.text, problems, native)
        tokens = catalog.count_tokens(repair, tokenizer)
        need = tokens + plan.reserve
        after = plan.candidates[plan.candidates.index(first.candidate):]
        fitting = tuple(c for c in after if c.window >= need)
        if not fitting:
            raise InvalidOutput(f"the answer of {first.candidate.spec.model} did not fit "
                                f"{response_model.__name__} ({'; '.join(problems)}), and the repair "
                                f"request ({tokens:,} tokens) fits no window that answered")
        again = await self._call(plan, repair, tokens, fitting, f"{first.reason}; repair request", extra)
        try:
            data = structured.parse(again.text, response_model)
        except structured.OutputInvalid as still:
            raise InvalidOutput(
                f"{again.candidate.spec.model} answered with output that does not fit "
                f"{response_model.__name__}, even after one repair request: {'; '.join(still.errors)}"
            ) from still
        return self._result(plan, [first, again], data)

    def _tokenizer(self, phase: str, labels: Sequence[str], profile: str | None) -> str:
        """The model whose tokenizer counts the prompt: the routed profile's first (the count
        decides the profile only through ``min_tokens`` rules and escalation, where a few
        percent between tokenizers do not matter)."""
        routed, _ = modelplan.route_profile(self.config, phase, labels=labels, profile=profile)
        return self.config.models(routed)[0].model  # type: ignore[arg-type]

    def _check_budgets(self, estimate: float) -> None:
        """Before any request: the per-job cap, then the repository's monthly budget."""
        budgets = self.config.budgets
        if budgets.per_job_usd is not None:
            spent = self.ledger.job_spend(self.job)
            if spent + estimate > budgets.per_job_usd:
                raise BudgetExceeded(
                    f"per-job cap reached: this job has spent ${spent:.4f} and the next call would "
                    f"add about ${estimate:.4f}, over budgets.per_job_usd = ${budgets.per_job_usd:.2f}; "
                    "no model was called"
                )
        if budgets.monthly_usd is not None:
            spent = self.ledger.spend(self.repo)
            if spent + estimate > budgets.monthly_usd:
                raise BudgetExceeded(
                    f"monthly budget of {self.repo} reached: ${spent:.4f} spent this month (UTC) and "
                    f"the next call would add about ${estimate:.4f}, over budgets.monthly_usd = "
                    f"${budgets.monthly_usd:.2f}; no model was called"
                )

    async def _call(
        self, plan: modelplan.Plan, messages: Messages, tokens: int,
        candidates: Sequence[modelplan.Candidate], reason: str, extra: dict[str, Any],
    ) -> _Answer:
        """Try the candidates in order; the first answer wins.

        The order is driven here rather than by the litellm Router's ``fallbacks``: each request
        needs its own window filter, a ledger row per attempt, and words for the footer saying
        which model failed how; the Router still does the HTTP call, retries and timeouts.
        Every provider error falls back (429, 5xx, timeout, and also auth or bad-request errors,
        which the next model, with its own key and provider, may well not have).
        """
        self._check_budgets(tokens * catalog.prices(candidates[0].spec)[0])
        router = self._litellm_router()
        failures: list[str] = []
        for candidate in candidates:
            why = f"{reason}; fallback: {'; '.join(failures)}" if failures else reason
            started = time.monotonic()
            try:
                if candidate.group in self._unusable:
                    raise ConfigError(self._unusable[candidate.group])
                response = await router.acompletion(
                    model=candidate.group, messages=for_model(messages, candidate.spec),
                    **self._kwargs(candidate, extra)
                )
            except Exception as exc:  # noqa: BLE001 - every provider error falls back (see above)
                what = self._describe_error(exc, candidate)
                self._record(plan.phase, candidate, why, 0, 0, 0.0, time.monotonic() - started, "error", what)
                failures.append(f"{candidate.spec.model} {what}")
                continue
            latency = time.monotonic() - started
            text = str(response.choices[0].message.content or "")
            usage = getattr(response, "usage", None)
            tokens_in = int(getattr(usage, "prompt_tokens", 0) or tokens)
            tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
            cached = min(cached_tokens(usage), tokens_in)
            cost = catalog.cost(candidate.spec, tokens_in, tokens_out, cached)
            self._record(plan.phase, candidate, why, tokens_in, tokens_out, cost, latency, "ok", None, cached)
            return _Answer(candidate, text, why, tokens_in, tokens_out, cost, latency, cached)
        raise AllModelsFailed(
            f"every {plan.profile} model that can hold the prompt failed: {'; '.join(failures)}"
            + (f" (skipped: {'; '.join(plan.skipped)})" if plan.skipped else "")
        )

    def _kwargs(self, candidate: modelplan.Candidate, extra: dict[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        limit = extra.get("max_output_tokens") or candidate.spec.max_output_tokens
        if limit:
            kwargs["max_tokens"] = limit
        schema = extra.get("schema")
        if schema is not None and catalog.supports_response_schema(candidate.spec):
            kwargs["response_format"] = structured.response_format(schema)
        return kwargs

    def _describe_error(self, exc: Exception, candidate: modelplan.Candidate) -> str:
        status = getattr(exc, "status_code", None)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if isinstance(exc, ConfigError):
            return f"not called: {exc}"
        if status == 408 or "timeout" in type(exc).__name__.lower():
            return f"timed out after {candidate.spec.timeout or self.config.timeout:g} s"
        if status == 429:
            return "answered 429 (rate limited)"
        if isinstance(status, int):
            return f"answered {status} ({detail})" if status < 500 else f"answered {status}"
        return f"failed: {detail}"

    def _record(self, phase: str, candidate: modelplan.Candidate, reason: str, tokens_in: int,
                tokens_out: int, cost: float, latency: float, outcome: str, error: str | None,
                tokens_cached: int = 0) -> None:
        """One ledger row per attempt; a failed attempt costs nothing and counts no tokens."""
        self.ledger.record_call(Call(
            repo=self.repo, job=self.job, phase=phase, profile=candidate.profile,
            model=candidate.spec.model, reason=reason, tokens_in=tokens_in, tokens_out=tokens_out,
            cost_usd=cost, latency_s=latency, outcome=outcome, error=error, tokens_cached=tokens_cached,
        ))

    def _result(self, plan: modelplan.Plan, answers: list[_Answer], data: D) -> ModelResult[D]:
        last = answers[-1]
        return ModelResult(
            text=last.text, data=data, phase=plan.phase, profile=last.candidate.profile,
            model=last.candidate.spec.model, reason=last.reason,
            tokens_in=sum(a.tokens_in for a in answers), tokens_out=sum(a.tokens_out for a in answers),
            cost_usd=sum(a.cost_usd for a in answers), latency_s=sum(a.latency_s for a in answers),
            escalated_from=plan.escalated_from, tokens_cached=sum(a.tokens_cached for a in answers),
        )

    def _litellm_router(self) -> Any:
        """One litellm.Router for this router's config: a model group per configured model.
        Cooldowns are off: the order of the profile, not litellm's health guesses, decides."""
        if self._router is None:
            deployments = []
            for profile, specs in self.config.profiles.items():
                for index, spec in enumerate(specs):
                    group = modelplan.Candidate(profile, index, spec, 0).group
                    params: dict[str, Any] = {"model": spec.model, "timeout": spec.timeout or self.config.timeout,
                                              "drop_params": True, **spec.extra}
                    if spec.api_base:
                        params["api_base"] = spec.api_base
                    try:
                        key = catalog.api_key(spec)
                    except ConfigError as exc:  # only this model is unusable; its fallbacks are not
                        self._unusable[group] = str(exc)
                        continue
                    if key:
                        params["api_key"] = key
                    deployments.append({"model_name": group, "litellm_params": params})
            litellm = catalog.litellm_module()
            self._router = litellm.Router(model_list=deployments, num_retries=self.config.retries,
                                          timeout=self.config.timeout, disable_cooldowns=True)
        return self._router
