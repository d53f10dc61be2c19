"""``model-routing route`` and the ``/route`` comment: which profile and model a phase would use,
and why, without calling any model.

The CLI reads the operator config from ``MODEL_ROUTING_CONFIG`` (built-in defaults without it);
``/route`` shows the repository's effective config. Both explain with ``bot.llm.plan``, the same
code the model router decides with, so the explanation cannot drift from what a call does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.config import PHASES, Config, ConfigError
from bot.llm import catalog
from bot.llm import plan as modelplan
from bot.llm.footer import footer
from bot.llm.track_words import model_lines
from bot.store.track_record import Stats
from bot.templates import render


def describe(config: Config, phase: str, *, tokens: int = 0, labels: Iterable[str] = ()) -> dict[str, Any]:
    """The decision for one phase as plain data; ``error`` set when no model fits."""
    plan = modelplan.plan(config, phase, tokens=tokens, labels=labels)
    out: dict[str, Any] = {
        "phase": phase, "tokens": tokens, "profile": plan.profile, "routed_profile": plan.routed,
        "escalated_from": plan.escalated_from, "reserve_tokens": plan.reserve,
        "skipped": list(plan.skipped),
    }
    if not plan.candidates:
        return {**out, "model": None, "reason": plan.why, "error": plan.no_fit()}
    first = plan.candidates[0]
    usd_in, usd_out = catalog.prices(first.spec)
    return {
        **out,
        "model": first.spec.model,
        "reason": plan.reason,
        "window": first.window,
        "price_per_million": {"input": round(usd_in * catalog.PER_MILLION, 6),
                              "output": round(usd_out * catalog.PER_MILLION, 6)},
        "fallbacks": [c.spec.model for c in plan.candidates[1:]],
        "error": None,
    }


def text_report(found: dict[str, Any]) -> str:
    profile = found["profile"]
    if found["escalated_from"]:
        profile += f" (escalated from {found['escalated_from']})"
    lines = [f"phase      {found['phase']}", f"tokens     {found['tokens']:,}", f"profile    {profile}"]
    if found["error"]:
        lines.append(f"error      {found['error']}")
    else:
        price = found["price_per_million"]
        lines += [
            f"model      {found['model']}",
            f"reason     {found['reason']}",
            f"window     {found['window']:,} tokens ({found['reserve_tokens']:,} of them kept for the reply)",
            f"price      ${price['input']:.2f} in / ${price['output']:.2f} out per million tokens",
            f"fallbacks  {', '.join(found['fallbacks']) or '(none that hold the prompt)'}",
        ]
    lines += [f"skipped    {s}" for s in found["skipped"]]
    return "\n".join(lines)


def _budgets(config: Config) -> str:
    monthly, per_job = config.budgets.monthly_usd, config.budgets.per_job_usd
    return (("unlimited per month" if monthly is None else f"${monthly:.2f} a month for this repository")
            + ", " + ("no cap per job" if per_job is None else f"at most ${per_job:.2f} per job"))


def render_route_comment(config: Config, labels: Iterable[str] = (), config_error: str | None = None,
                         record: Stats | None = None, record_days: int = 0) -> str:
    """The ``/route`` reply: a table of phase -> profile, model, why, the profiles behind it, and
    (``record``) each model's track record here."""
    labels = list(labels)
    rows = []
    for phase in PHASES:
        try:
            found = describe(config, phase, labels=labels)
        except ConfigError as exc:
            rows.append({"phase": phase, "error": str(exc).replace("|", "\\|")})
            continue
        rows.append({**found, "reason": str(found["reason"]).replace("|", "\\|")})
    return render(
        "comments/route.md.j2",
        config_error=config_error,
        rows=rows,
        labels=labels,
        routes=[{"when": modelplan.describe_when(r.when), "profile": r.profile} for r in config.routes],
        profiles=[(p, [catalog.describe(s) for s in specs]) for p, specs in config.profiles.items()],
        reserve=config.limits.output_reserve_tokens,
        budgets=_budgets(config),
        track=model_lines(record) if record is not None else None,
        track_days=record_days,
        footer=footer([], note="No model was called for this reply."),
    )
