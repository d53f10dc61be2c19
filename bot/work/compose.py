"""Builds the process-wide services once at start-up, for every way the bot runs."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config
from bot.config_files import load_operator_config
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.router import Router
from bot.github.clients import GitHubClients, RetryPolicy
from bot.settings import Settings
from bot.store.backends import open_ledger
from bot.store.credentials import Credentials
from bot.store.holds import Holds


def handler_router() -> Router:
    """The composed handlers; importing them loads no model library."""
    from handlers import router

    return router


def build_dispatcher(
    settings: Settings,
    config: Config | None = None,
    retry: RetryPolicy | None = None,
    data_dir: Path | None = None,
    holds: Holds | None = None,
    credentials: Credentials | None = None,
) -> Dispatcher:
    """``holds``: the server passes its delivery store, shared by every worker; the Action and
    replay run one delivery per process and keep theirs in memory. ``credentials``: the
    server's and workers' (they may arrive through the setup page); else those of ``settings``."""
    config = config if config is not None else load_operator_config(settings.config_path)
    ledger = open_ledger(settings, data_dir)
    clients = GitHubClients(settings, retry, credentials=credentials)
    return Dispatcher(settings, config, handler_router(), ledger, clients, holds)
