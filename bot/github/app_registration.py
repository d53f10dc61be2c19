"""The last step of GitHub's App manifest flow: trading the temporary code GitHub handed the
browser for the new App's id, key and secrets (``POST /app-manifests/{code}/conversions``,
no authentication; the code works once and for an hour)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from bot.github.clients import GitHubClients
from bot.github.rest import http_status
from bot.store.credentials import AppCredentials, CredentialsError

# GitHub's codes are hex; anything else is refused before it reaches a URL
CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")


class ConversionFailed(Exception):
    """GitHub did not hand over the credentials; the message says why, for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


async def convert(clients: GitHubClients, code: str) -> AppCredentials:
    if not CODE.fullmatch(code):
        raise ConversionFailed("the code in the link is not one GitHub hands out")
    gh = clients.anonymous()
    try:
        async with gh:
            resp = await gh.arequest("POST", f"/app-manifests/{quote(code, safe='')}/conversions")
    except Exception as exc:  # every failure becomes words for the page (re-raised)
        status = http_status(exc)
        raise ConversionFailed(_why(status, exc), status) from exc
    data: Any = resp.json()
    if not isinstance(data, dict):
        raise ConversionFailed("GitHub's answer is not a JSON object")
    try:
        return AppCredentials.from_conversion(data)
    except CredentialsError as exc:
        raise ConversionFailed(str(exc)) from exc


def _why(status: int | None, exc: Exception) -> str:
    if status is None:
        return f"could not reach GitHub: {type(exc).__name__}: {exc}"
    message = _message(exc)
    if status == 404:
        return ("GitHub does not know this code (404): it has been used already, or more than "
                "an hour passed since GitHub made it")
    if status == 422:
        return f"GitHub refused the code (422): {message or 'validation failed'}"
    return f"GitHub answered {status}" + (f": {message}" if message else "")


def _message(exc: Exception) -> str:
    try:
        body = exc.response.json()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no JSON body: no message
        return ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""
