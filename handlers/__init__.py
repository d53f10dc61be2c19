"""Composes the handler modules: each has its own router (and slash commands); this is the one
place they meet."""

from bot.routing import Router

router = Router()
