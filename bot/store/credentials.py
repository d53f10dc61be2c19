"""The GitHub App's credentials: stored in the data directory by the setup page, and the one
holder every part of the process reads them from.

Where they come from, in order (the first that has them wins, and stays for the life of the
process):

1. the environment: ``GITHUB_APP_ID`` and ``GITHUB_APP_PRIVATE_KEY``, or ``GITHUB_TOKEN``;
2. ``github-app.json`` in the data directory, written by the setup page (``bot.edge.setup``)
   from GitHub's answer to the App manifest flow;
3. none yet: the setup page may then set them, once, while the server runs.

``Credentials.settings`` is the process's ``Settings`` with the App's id, key, webhook secret
and login laid in; the GitHub clients and the dispatcher read it per job, and the webhook edge
is told (``watch``) when it changes, so the next delivery is verified with the new secret
without a restart and without any extra work on the webhook's hot path.

The file is written once, atomically (a temporary file in the same directory, fsync'ed,
renamed), with mode 0600: a reader sees the whole file or none, and a failed write leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.settings import Settings

log = logging.getLogger("model_routing.credentials")
FILE_NAME = "github-app.json"
# what GitHub's manifest conversion answers and the file keeps (docs: "Create a GitHub App from
# a manifest"); the webhook secret may be null
REQUIRED = ("id", "slug", "pem", "client_id", "client_secret")


class CredentialsError(ValueError):
    """A stored file or an answer from GitHub that does not hold usable credentials."""


class AlreadyConfigured(RuntimeError):
    """The process has credentials already; they change at most once, from none."""


@dataclass(frozen=True)
class AppCredentials:
    app_id: int
    slug: str
    private_key: str  # PEM
    webhook_secret: str | None
    client_id: str
    client_secret: str
    name: str = ""
    owner: str = ""  # the account that owns the App
    html_url: str = ""  # the App's page on GitHub (its "Install" button)

    @classmethod
    def from_conversion(cls, data: Mapping[str, Any]) -> AppCredentials:
        """From the 201 body of ``POST /app-manifests/{code}/conversions``."""
        missing = [key for key in REQUIRED if not data.get(key)]
        if missing:
            raise CredentialsError(f"GitHub's answer has no {', '.join(missing)}")
        if "-----BEGIN" not in str(data["pem"]):
            raise CredentialsError("GitHub's answer holds no PEM private key")
        owner = data.get("owner")
        return cls(
            app_id=int(data["id"]), slug=str(data["slug"]), private_key=str(data["pem"]),
            webhook_secret=str(data["webhook_secret"]) if data.get("webhook_secret") else None,
            client_id=str(data["client_id"]), client_secret=str(data["client_secret"]),
            name=str(data.get("name") or data["slug"]),
            owner=str(owner.get("login") or "") if isinstance(owner, Mapping) else "",
            html_url=str(data.get("html_url") or ""),
        )

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, where: Path) -> AppCredentials:
        try:
            data = json.loads(raw)
            found = cls(**data)
            if not (isinstance(found.app_id, int) and found.slug and found.client_id
                    and "-----BEGIN" in str(found.private_key)):
                raise ValueError("its app_id, slug, client_id or private_key is missing")
            return found
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"{where} does not hold App credentials ({exc}); move it "
                                   "away and connect again from the setup page") from None

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


def load(path: Path) -> AppCredentials | None:
    """The stored credentials, None when there are none; CredentialsError when unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    found = AppCredentials.from_json(raw, path)
    if path.stat().st_mode & 0o077:
        log.warning("%s can be read by other users; chmod 600 it", path)
    return found


def write_private(path: Path, data: bytes) -> None:
    """``data`` at ``path``, mode 0600, all or nothing: written to a temporary file in the same
    directory, fsync'ed and renamed over ``path``; on any failure the temporary file goes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself, on filesystems that allow it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class Credentials:
    """The credentials this process uses; see the module's docstring for where they come from."""

    def __init__(self, settings: Settings, stored: AppCredentials | None = None,
                 path: Path | None = None, *, pick_up: bool = False) -> None:
        """``Credentials(settings)``: exactly those of ``settings``, never a file (the Action,
        replay, tests); ``resolve`` is what a server or worker uses."""
        self.base = settings
        self._pick_up = pick_up
        self.path = path if path is not None else settings.data_dir / FILE_NAME
        self.from_env = settings.app_auth or bool(settings.github_token)
        self.stored: AppCredentials | None = None
        self._settings = settings
        self._lock = threading.Lock()
        self._watchers: list[Callable[[Settings], None]] = []
        if stored is not None and not self.from_env:
            self._apply(stored)

    @classmethod
    def resolve(cls, settings: Settings) -> Credentials:
        """From the environment when it has them, else from the data directory's file."""
        path = settings.data_dir / FILE_NAME
        if settings.app_auth or settings.github_token:
            return cls(settings, path=path)
        return cls(settings, load(path), path, pick_up=True)

    @property
    def settings(self) -> Settings:
        """The settings with the App's credentials, as they stand now."""
        return self._settings

    @property
    def configured(self) -> bool:
        return self.from_env or self.stored is not None

    @property
    def source(self) -> str:
        """environment | file | none"""
        return "environment" if self.from_env else "file" if self.stored is not None else "none"

    def describe(self) -> str:
        """Which credentials are used, in words, for ``serve``'s log."""
        s = self._settings
        if self.from_env:
            what = (f"App {s.app_id} from the environment (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY)"
                    if s.app_auth else "GITHUB_TOKEN from the environment")
            if self.path.exists():
                what += f"; the App stored in {self.path} is not used: the environment wins"
            return what
        if self.stored is not None:
            return f"App {self.stored.slug} (id {self.stored.app_id}) stored in {self.path}"
        return "none yet"

    def watch(self, callback: Callable[[Settings], None]) -> None:
        """Call ``callback(settings)`` whenever the credentials change (at most once)."""
        self._watchers.append(callback)

    def adopt(self, app: AppCredentials) -> None:
        """Store ``app`` in the data directory and use it from now on. Raises AlreadyConfigured
        when the process has credentials; OSError when the file cannot be written (then
        nothing changed and nothing is left on disk)."""
        with self._lock:
            if self.configured:
                raise AlreadyConfigured(f"already using {self.describe()}")
            write_private(self.path, app.to_json())
            self._apply(app)

    def current(self) -> Settings:
        """The settings for a job. A process started before the setup page stored the App
        (a ``model-routing worker`` on the same data directory) picks the file up here."""
        if self._pick_up and not self.configured:
            with self._lock:
                if not self.configured:
                    try:
                        found = load(self.path)
                    except CredentialsError as exc:
                        log.warning("%s", exc)
                        found = None
                    if found is not None:
                        self._apply(found)
        return self._settings

    def _apply(self, app: AppCredentials) -> None:
        env = self.base
        if env.webhook_secret and env.webhook_secret != app.webhook_secret:
            log.warning("GITHUB_WEBHOOK_SECRET is set and wins over the secret of the App "
                        "%s: GitHub signs its deliveries with the App's; unset it", app.slug)
        self.stored = app
        self._settings = dataclasses.replace(
            env, app_id=str(app.app_id), private_key=app.private_key,
            webhook_secret=env.webhook_secret or app.webhook_secret,
            bot_login=env.bot_login or app.bot_login)
        for callback in self._watchers:
            callback(self._settings)
