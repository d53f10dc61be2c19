"""``/stats``: this repository's table for the last 30 days, per phase and model: jobs, cost,
what happened to the outputs (``bot.store.track_record``), and the cost per merged PR. Calls no
model; any writer may ask."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.dispatch.slash import Command, CommandTable, reply
from bot.llm.footer import NO_MODEL_NOTE, footer
from bot.llm.track_words import outcome_words
from bot.store.outcome_log import DAY
from bot.store.track_record import Stats, stats
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context

commands = CommandTable()
DAYS = 30


def render_stats(found: Stats, days: int = DAYS) -> str:
    def day(at: float) -> str:
        return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")

    rows = [{"phase": t.phase, "model": t.model, "jobs": t.jobs, "cost_usd": t.cost_usd,
             "words": outcome_words(t)} for t in found.rows]
    return render(
        "comments/stats.md.j2",
        repo=found.repo, days=days, since=day(found.since), until=day(found.until), rows=rows,
        jobs=sum(t.jobs for t in found.rows), total=found.total_cost, merged=found.merged_prs,
        per_merged=found.cost_per_merged_pr, all_in=found.all_in_per_merged_pr,
        footer=footer([], note=NO_MODEL_NOTE),
    )


@commands.register("stats", f"this repository's last {DAYS} days per phase and model: jobs, cost, "
                   "what happened to the outputs, the cost per merged PR (calls no model)", usage="/stats")
async def stats_command(ctx: Context, cmd: Command) -> None:
    now = time.time()
    async with ctx.job("stats", f"#{ctx.event.issue_number}") as result:
        body = render_stats(stats(ctx.ledger.outcomes, ctx.repo, since=now - DAYS * DAY, until=now))
        result.link(await reply(ctx, "stats", body))
