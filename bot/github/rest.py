"""The few ways the bot reads GitHub's REST API: one JSON answer, a 404 as None, every page of
a list, the status of an error answer, and the base64 content of a file or blob."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from githubkit import GitHub


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of GitHub's error answer (githubkit's RequestFailed), else None."""
    from githubkit.exception import RequestFailed  # loaded already: a request was made

    return exc.response.status_code if isinstance(exc, RequestFailed) else None


async def get_json(gh: GitHub[Any], path: str, params: dict[str, Any] | None = None) -> Any:
    resp = await gh.arequest("GET", path, params=params)
    return resp.json()


async def get_json_or_none(gh: GitHub[Any], path: str, params: dict[str, Any] | None = None) -> Any:
    """GitHub's JSON answer, or None when the thing does not exist (404)."""
    try:
        return await get_json(gh, path, params)
    except Exception as exc:
        if http_status(exc) == 404:
            return None
        raise


async def paginate(
    gh: GitHub[Any], path: str, params: dict[str, Any] | None = None, limit: int | None = None,
    key: str | None = None,
) -> list[Any]:
    """Every item of a paginated list, following GitHub's ``Link: rel="next"`` header. ``key``:
    the pages are objects holding the items under it (``{"total_count", "check_runs"}``)."""
    items: list[Any] = []
    url: str | None = path
    query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
    while url:
        resp = await gh.arequest("GET", url, params=query)
        page = resp.json()
        if key is not None:
            page = page.get(key) if isinstance(page, dict) else None
        items.extend(page if isinstance(page, list) else [])
        if limit is not None and len(items) >= limit:
            return items[:limit]
        url = _next_link(resp.headers.get("link", ""))
        query = None  # the next link carries its own query
    return items


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        section = part.split(";")
        if len(section) >= 2 and any(s.strip() == 'rel="next"' for s in section[1:]):
            return section[0].strip().strip("<>")
    return None


def decoded_content(data: Any) -> bytes | None:
    """The bytes of a contents or blob answer (``{"content", "encoding"}``): base64 decoded,
    or the text as given for another encoding; None when it is not such an answer or its
    base64 is broken (a truncated answer must not pass for an empty file)."""
    if not isinstance(data, dict):
        return None
    content = str(data.get("content") or "")
    if data.get("encoding", "base64") != "base64":
        return content.encode()
    try:
        return base64.b64decode(content)
    except (binascii.Error, ValueError):
        return None
