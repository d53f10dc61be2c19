"""Composes the handler modules: each has its own router (and slash commands); this is the one
place they meet. Importing this must stay cheap (no model library): the Action decides from
``router`` alone whether it has anything to do."""

from bot.dispatch.router import Router
from bot.dispatch.slash import CommandTable, comment_router
from handlers import ask, debug, implement, outcomes, review, review_outcomes, security, spec, stats
from handlers import commands as basic

# one command table for the App and the Action; phase modules add theirs here
commands = CommandTable(
    basic.commands,
    spec.commands,
    implement.commands,
    review.commands,
    ask.commands,
    security.commands,
    debug.commands,
    stats.commands,
)

# every handler router; the comment router runs the commands above
router = Router(
    comment_router(commands),
    spec.router,
    implement.router,
    review.router,
    security.router,
    debug.router,
    outcomes.router,  # observers: they record what happened to outputs, after the phases ran
    review_outcomes.router,
)
