"""Operator settings from the environment, read once at start-up and passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    app_id: str | None = None
    private_key: str | None = None  # PEM text
    webhook_secret: str | None = None
    api_url: str = "https://api.github.com"
    config_path: str | None = None
    data_dir: Path = Path(".model-routing")
    redis_url: str | None = None
    github_token: str | None = None  # Action mode
    bot_login: str | None = None  # the App's own login, e.g. "model-routing[bot]"
    database_url: str | None = None  # PostgreSQL: one ledger (calls, jobs, outcomes) for every machine
    dashboard_token: str | None = None  # lets clients off loopback see the dashboard and /api/stats

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        key = env.get("GITHUB_APP_PRIVATE_KEY") or None
        if key and "-----BEGIN" not in key:
            path = Path(key).expanduser()
            try:
                key = path.read_text()
            except OSError as exc:
                raise SettingsError(
                    f"GITHUB_APP_PRIVATE_KEY is neither PEM text nor a readable file: {path} "
                    f"({exc.strerror})"
                ) from exc
        database_url = env.get("DATABASE_URL") or None
        if database_url and not database_url.startswith(("postgresql://", "postgres://")):
            raise SettingsError("DATABASE_URL must be a PostgreSQL URL (postgresql://USER:PASSWORD@HOST:PORT/DB); "
                                "leave it unset for the embedded SQLite ledger")
        return cls(
            app_id=env.get("GITHUB_APP_ID") or None,
            private_key=key,
            webhook_secret=env.get("GITHUB_WEBHOOK_SECRET") or None,
            api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            config_path=env.get("MODEL_ROUTING_CONFIG") or None,
            data_dir=Path(env.get("MODEL_ROUTING_DATA_DIR") or ".model-routing"),
            redis_url=env.get("REDIS_URL") or None,
            github_token=env.get("GITHUB_TOKEN") or None,
            bot_login=env.get("MODEL_ROUTING_BOT_LOGIN") or None,
            database_url=database_url,
            dashboard_token=env.get("MODEL_ROUTING_DASHBOARD_TOKEN") or None,
        )

    @property
    def app_auth(self) -> bool:
        return bool(self.app_id and self.private_key)
