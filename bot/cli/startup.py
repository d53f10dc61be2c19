"""What ``serve`` and ``worker`` read before they start: settings from the environment and the
operator's config, read once and passed down."""

from __future__ import annotations

import argparse
import logging

from bot.config import Config, ConfigError, load_operator_config
from bot.settings import Settings, SettingsError
from bot.store.credentials import Credentials, CredentialsError

log = logging.getLogger("model_routing.cli")


def startup(args: argparse.Namespace, min_workers: int) -> tuple[Settings, Config] | None:
    """Settings and operator config for ``serve`` and ``worker``, or None after logging why
    they cannot start (the command then exits 2)."""
    if args.workers < min_workers:
        log.error("--workers must be at least %d", min_workers)
        return None
    try:
        settings = Settings.from_env()
        return settings, load_operator_config(settings.config_path)
    except (SettingsError, ConfigError) as exc:
        log.error("%s", exc)
        return None


def github_credentials(settings: Settings) -> Credentials | None:
    """Where the GitHub credentials come from (the environment wins over the data directory's
    file), said in the log; None after logging why the stored file cannot be used."""
    try:
        found = Credentials.resolve(settings)
    except CredentialsError as exc:
        log.error("%s", exc)
        return None
    log.info("GitHub credentials: %s", found.describe())
    return found
