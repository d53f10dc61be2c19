"""A model's track record in words, the same in ``/stats``, ``/route`` and the dashboard."""

from __future__ import annotations

import statistics

from bot.store.track_record import Stats, Track


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def outcome_words(t: Track) -> str:
    """What happened to the outputs of one phase and model, or "no outcome yet"."""
    parts: list[str] = []
    decided = t.approved + t.revised + t.stale
    if decided:
        text = f"approved {t.approved} of {decided} ({pct(t.approved, decided)})"
        if t.approval_s:
            text += f" after a median {duration(statistics.median(t.approval_s))}"
        parts.append(text)
        if t.revised:
            parts.append(f"revised {t.revised}")
        if t.stale:
            parts.append(f"unanswered after 30 days {t.stale}")
    if t.chains:
        parts.append(f"CI green first try {t.first_try} of {t.chains} ({pct(t.first_try, t.chains)})")
        if t.after_fix:
            parts.append(f"green after fix rounds {t.after_fix} (mean {t.fix_rounds / t.after_fix:.1f} rounds)")
        if t.given_up:
            parts.append(f"given up {t.given_up}")
    if t.fixes:
        parts.append(f"fix rounds green {t.fixes_green} of {t.fixes}")
    closed = t.merged + t.closed
    if closed:
        parts.append(f"PRs merged {t.merged} of {closed} ({pct(t.merged, closed)})")
    if t.taken_over:
        parts.append(f"taken over {t.taken_over}")
    if t.kept:
        parts.append(f"{100 * statistics.fmean(t.kept):.0f}% of its lines kept at merge")
    if t.findings:
        parts.append(f"{t.findings} findings inline, acted on {t.acted_on} ({pct(t.acted_on, t.findings)})")
    return "; ".join(parts) or "no outcome yet"


def model_lines(found: Stats) -> list[str]:
    """One line per model: its jobs and cost here, and what happened to its outputs by phase."""
    by_model: dict[str, list[Track]] = {}
    for t in found.rows:
        by_model.setdefault(t.model, []).append(t)
    lines = []
    for model, tracks in sorted(by_model.items(), key=lambda item: -sum(t.cost_usd for t in item[1])):
        jobs, cost = sum(t.jobs for t in tracks), sum(t.cost_usd for t in tracks)
        judged = [f"{t.phase}: {words}" for t in tracks if (words := outcome_words(t)) != "no outcome yet"]
        lines.append(f"`{model}`: {jobs} job{'s' if jobs != 1 else ''}, {usd(cost)}"
                     + (f"; {'; '.join(judged)}" if judged else "; no outcome yet"))
    return lines
