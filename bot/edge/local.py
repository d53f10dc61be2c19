"""Who is on this machine: the one rule for the pages that show more to a local user (the setup
page, the dashboard) and for unsigned webhooks.

``is_loopback``: the client's address is a loopback one. ``is_local``: that, and the request
was not passed on by a proxy running here (which would make every visitor look local), and it
is addressed to this machine by a loopback name (a page of another site whose name points at
127.0.0.1 sends its own Host: DNS rebinding)."""

from __future__ import annotations

import ipaddress
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    try:
        return ipaddress.ip_address(client[0] if client else "").is_loopback
    except ValueError:
        return False


def is_local(scope: Scope) -> bool:
    if not is_loopback(scope):
        return False
    host = b""
    for name, value in scope["headers"]:
        if name in FORWARDED:
            return False
        if name == b"host":
            host = value
    return loopback_name(host.decode("latin-1"))


def loopback_name(host: str) -> bool:
    """Whether ``host`` (a Host header or a URL's netloc) names this machine."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
