"""GitHub clients: App installation auth or a plain token, one base URL, retries by what is safe
(``bot.github.retry``).

githubkit caches installation tokens in its cache strategy until they expire; one
``GitHubClients`` per process (server lifespan, one Action run) owns that cache, so tokens are
reused across jobs and never shared between unrelated clients (tests run several fakes).

githubkit itself is imported only when a client is made or an error is looked at: importing it
costs about 0.4 s, and an Action run on an event nobody handles must not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.github.retry import RetryPolicy
from bot.settings import Settings
from bot.store.credentials import Credentials

__all__ = ["USER_AGENT", "AuthError", "GitHubClients", "RetryPolicy"]

if TYPE_CHECKING:
    import ssl

    from githubkit import GitHub

USER_AGENT = "model-routing-bot"


class AuthError(RuntimeError):
    pass


class GitHubClients:
    """Makes the GitHub client for one delivery: an installation client (App) or a token client.

    The credentials come from ``credentials`` (fixed ``settings`` when none is given), read
    per job: a server started without them authenticates as the App the setup page stored."""

    def __init__(self, settings: Settings, retry: RetryPolicy | None = None, *,
                 credentials: Credentials | None = None) -> None:
        self.credentials = credentials if credentials is not None else Credentials(settings)
        self.retry = retry or RetryPolicy()
        from githubkit.cache import MemCacheStrategy

        self._cache = MemCacheStrategy()
        self._app: GitHub[Any] | None = None
        self._installations: dict[int, GitHub[Any]] = {}
        self._ssl: ssl.SSLContext | None = None

    @property
    def settings(self) -> Settings:
        return self.credentials.current()

    def _ssl_context(self) -> ssl.SSLContext:
        """One TLS context for every client: the dispatcher opens an HTTP client per delivery,
        and httpx would otherwise build a context (reading the CA bundle, about 20 ms) each
        time. httpx's own default, so SSL_CERT_FILE and SSL_CERT_DIR are still honoured."""
        if self._ssl is None:
            import httpx

            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _options(self) -> dict[str, Any]:
        return {
            "ssl_verify": self._ssl_context(),
            "base_url": self.settings.api_url + "/",
            "user_agent": USER_AGENT,
            "cache_strategy": self._cache,
            "http_cache": False,  # the bot reads what it just wrote; never serve a stale copy
            "auto_retry": self.retry,
            "timeout": 30.0,
        }

    def app(self) -> GitHub[Any]:
        if self._app is None:  # credentials change at most once, from none: nothing to forget
            settings = self.settings
            if not settings.app_auth:
                raise AuthError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY are needed for App auth")
            from githubkit import AppAuthStrategy, GitHub

            strategy = AppAuthStrategy(str(settings.app_id), str(settings.private_key))
            self._app = GitHub(strategy, **self._options())
        return self._app

    def installation(self, installation_id: int) -> GitHub[Any]:
        client = self._installations.get(installation_id)
        if client is None:
            app = self.app()
            client = app.with_auth(app.auth.as_installation(installation_id))
            self._installations[installation_id] = client
        return client

    def token(self, token: str | None = None) -> GitHub[Any]:
        token = token or self.settings.github_token
        if not token:
            raise AuthError("GITHUB_TOKEN is not set, and no GitHub App is connected (open the "
                            "server's setup page, or set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)")
        from githubkit import GitHub, TokenAuthStrategy

        return GitHub(TokenAuthStrategy(token), **self._options())

    def anonymous(self) -> GitHub[Any]:
        """No credentials, no retries: for the one call that needs none, the App manifest
        conversion, whose code works once (a retry after a lost answer could only fail)."""
        from githubkit import GitHub, UnauthAuthStrategy

        return GitHub(UnauthAuthStrategy(), **{**self._options(), "auto_retry": False})

    def for_event(self, installation_id: int | None) -> GitHub[Any]:
        """App auth when configured and the event names an installation, else the token."""
        if self.settings.app_auth:
            if installation_id is None:
                raise AuthError("the event names no installation; cannot authenticate as the App")
            return self.installation(installation_id)
        return self.token()
