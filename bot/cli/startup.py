"""What ``serve`` and ``worker`` read before they start: settings from the environment, the
operator's config and the GitHub credentials, read once and passed down."""

from __future__ import annotations

import argparse
import logging
from typing import NamedTuple

from bot.config import Config, ConfigError
from bot.config_files import load_operator_config
from bot.settings import Settings, SettingsError
from bot.store.credentials import Credentials, CredentialsError

log = logging.getLogger("model_routing.cli")


class Started(NamedTuple):
    settings: Settings
    config: Config
    credentials: Credentials


def startup(args: argparse.Namespace, min_workers: int) -> Started | None:
    """Settings, operator config and credentials for ``serve`` and ``worker``, or None after
    logging why they cannot start (the command then exits 2). Where the credentials come from
    (the environment wins over the data directory's file) is said in the log."""
    if args.workers < min_workers:
        log.error("--workers must be at least %d", min_workers)
        return None
    try:
        settings = Settings.from_env()
        config = load_operator_config(settings.config_path)
        credentials = Credentials.resolve(settings)
    except (SettingsError, ConfigError, CredentialsError) as exc:
        log.error("%s", exc)
        return None
    log.info("GitHub credentials: %s", credentials.describe())
    return Started(settings, config, credentials)
