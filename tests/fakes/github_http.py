"""Request/response plumbing shared by the fake GitHub's route modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tests.fakes.github_shapes import DOCS, error, validation_failed

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]  # lower-case names
    base_url: str  # "http://127.0.0.1:PORT", for URLs in bodies and Link headers
    params: dict[str, str] = field(default_factory=dict)
    login: str | None = None  # who the credentials belong to
    installation_id: int | None = None
    app: Any = None  # the App identity whose JWT authenticated the call (auth "jwt")

    def accept(self, media_type: str) -> bool:
        return media_type in self.headers.get("accept", "")

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default

    def int_query(self, name: str, default: int) -> int:
        try:
            return int(self.query.get(name, default))
        except ValueError:
            raise HttpError(400, error(f"Invalid value for {name}", 400)) from None


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, or str/bytes with a content_type
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json")


class HttpError(Exception):
    """Raised by handlers to answer with an error body in GitHub's shape."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.reply = Reply(status, body, headers or {})


def not_found() -> HttpError:
    return HttpError(404, error("Not Found", 404))


def unprocessable(message: str, **fields: Any) -> HttpError:
    """422 with GitHub's structured errors ("Validation Failed")."""
    return HttpError(422, validation_failed([{"code": "invalid", **fields}] if fields else [],
                                            message))


def unprocessable_simple(*errors: str) -> HttpError:
    """422 whose errors are plain strings, as review comment problems come back."""
    return HttpError(422, {"message": "Unprocessable Entity", "errors": list(errors),
                           "documentation_url": DOCS, "status": "422"})


Handler = Callable[["Backend", Call], Reply]


@dataclass
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    auth: str  # "token" | "jwt" | "none" (the manifest conversion: the code is the secret)
    literal: int  # literal characters: the more specific template wins


class Routes:
    """A method + path table; `{name}` is one segment, `{name*}` any rest (refs, paths)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, auth: str = "token") -> None:
        pattern = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.*)", template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        literal = len(re.sub(r"\{\w+\*?\}", "", template))
        self.routes.append(Route(method, re.compile(f"^{pattern}$"), handler, auth, literal))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        best: tuple[Route, dict[str, str]] | None = None
        for route in self.routes:
            if route.method != method:
                continue
            m = route.regex.match(path)
            if m and (best is None or route.literal > best[0].literal):
                best = (route, m.groupdict())
        return best


def page_of(call: Call, items: list[Any], default: int = 30,
            maximum: int = 100) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` (``per_page``/``page`` from the query) and its Link header."""
    per_page = max(1, min(call.int_query("per_page", default), maximum))
    page = max(1, call.int_query("page", 1))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    links = []

    def link(number: int, rel: str) -> str:
        query = {**call.query, "per_page": str(per_page), "page": str(number)}
        return f'<{call.base_url}{call.path}?{urlencode(query)}>; rel="{rel}"'

    if page > 1:
        links += [link(page - 1, "prev"), link(1, "first")]
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    return chunk, ({"link": ", ".join(links)} if links else {})


def paginate(call: Call, items: list[Any], render: Callable[[Any], Any] | None = None,
             max_items: int | None = None) -> Reply:
    """One page of a list with GitHub's Link header (per_page 30 by default, 100 at most).

    `render` turns only the items of the page into JSON, so 3,000-file PRs stay cheap."""
    if max_items is not None:
        items = items[:max_items]
    chunk, headers = page_of(call, items)
    return Reply(200, [render(x) for x in chunk] if render else chunk, headers)
