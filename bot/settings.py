"""Operator settings from the environment, read once at start-up and passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


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
    web_url: str | None = None  # GitHub's web side when it cannot be told from api_url
    public_url: str | None = None  # where GitHub reaches this server (the setup page's default)
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
            web_url=(env.get("GITHUB_WEB_URL") or "").rstrip("/") or None,
            public_url=(env.get("MODEL_ROUTING_PUBLIC_URL") or "").rstrip("/") or None,
            database_url=database_url,
            dashboard_token=env.get("MODEL_ROUTING_DASHBOARD_TOKEN") or None,
        )

    @property
    def app_auth(self) -> bool:
        return bool(self.app_id and self.private_key)

    @property
    def github_web_url(self) -> str | None:
        """GitHub's web side (where Apps are registered) for ``api_url``: https://github.com for
        https://api.github.com, https://HOST for GitHub Enterprise Server's https://HOST/api/v3,
        https://NAME.ghe.com for https://api.NAME.ghe.com; ``GITHUB_WEB_URL`` when set. None
        when it cannot be told (then ``GITHUB_WEB_URL`` must say it)."""
        if self.web_url:
            return self.web_url
        parts = urlsplit(self.api_url)
        if not parts.scheme or not parts.hostname:
            return None
        if parts.path.rstrip("/") == "/api/v3":
            return f"{parts.scheme}://{parts.netloc}"
        if parts.netloc.startswith("api.") and parts.path in ("", "/"):
            return f"{parts.scheme}://{parts.netloc.removeprefix('api.')}"
        return None
