"""The commands every installation has: /help, /route and /cost. None of them calls a model.

Unknown commands get /help's reply from ``bot.dispatch.slash.comment_router`` itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.dispatch.slash import Command, CommandTable, reply, reply_help
from bot.llm.footer import NO_MODEL_NOTE, footer
from bot.store.ledger import month_start
from bot.store.outcome_log import DAY
from bot.store.track_record import stats
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context

commands = CommandTable()
TRACK_DAYS = 90  # the track record /route shows for each model


@commands.register("help", "list the commands", usage="/help")
async def help_command(ctx: Context, cmd: Command) -> None:
    await reply_help(ctx, cmd.table if cmd.table is not None else commands)


@commands.register(
    "route",
    "which profile and model each phase would use here now, and why (calls no model)",
    usage="/route",
)
async def route_command(ctx: Context, cmd: Command) -> None:
    # bot.llm.route_view needs litellm's model map (windows and prices); imported only when asked
    from bot.llm.route_view import render_route_comment

    labels = [str(label.get("name")) for label in (ctx.event.payload.get("issue") or {}).get("labels") or []]
    async with ctx.job("route", f"#{ctx.event.issue_number}") as result:
        record = stats(ctx.ledger.outcomes, ctx.repo, since=time.time() - TRACK_DAYS * DAY)
        body = render_route_comment(ctx.config, labels=labels, config_error=ctx.config_error,
                                    record=record, record_days=TRACK_DAYS)
        written = await reply(ctx, "route", body)
        result.link(written)


@commands.register("cost", "model spend for this repository this month, by phase and model", usage="/cost")
async def cost_command(ctx: Context, cmd: Command) -> None:
    since = month_start()
    rows = ctx.ledger.cost_by_phase_model(ctx.repo, since=since)
    budgets = ctx.config.budgets
    body = render(
        "comments/cost.md.j2",
        repo=ctx.repo,
        month=datetime.fromtimestamp(since, tz=UTC).strftime("%B %Y"),
        rows=rows,
        calls=sum(int(r["calls"] or 0) for r in rows),
        tokens_in=sum(int(r["tokens_in"] or 0) for r in rows),
        tokens_out=sum(int(r["tokens_out"] or 0) for r in rows),
        total=sum(float(r["cost_usd"] or 0) for r in rows),
        monthly_usd=budgets.monthly_usd,
        per_job_usd=budgets.per_job_usd,
        footer=footer([], note=NO_MODEL_NOTE),
    )
    async with ctx.job("cost", f"#{ctx.event.issue_number}") as result:
        written = await reply(ctx, "cost", body)
        result.link(written)
