"""Every write to GitHub goes through here, so that ``--dry-run`` can print it instead.

In dry-run mode a write is printed as one JSON line ``{"method", "path", "body"}`` and answered
with a stand-in object carrying made-up identifiers, so a handler can go on (a tree needs the
blob's sha, a commit the tree's) and show every write it would make.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from githubkit import GitHub


def _stand_in(method: str, path: str, body: Any, serial: int) -> dict[str, Any]:
    digest = hashlib.sha1(f"{serial}:{method}:{path}:{json.dumps(body, sort_keys=True)}".encode())
    sha = digest.hexdigest()
    return {
        "dry_run": True,
        "id": serial,
        "number": serial,
        "sha": sha,
        "node_id": f"DRY_{serial}",
        "html_url": f"dry-run://{path}",
        "object": {"sha": sha, "type": "commit"},
        "ref": (body or {}).get("ref") if isinstance(body, dict) else None,
    }


class Writes:
    def __init__(
        self,
        gh: GitHub[Any] | None,
        dry_run: bool = False,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.gh = gh
        self.dry_run = dry_run
        self.planned: list[dict[str, Any]] = []
        self._emit = emit or (lambda line: print(line, file=sys.stdout, flush=True))

    async def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Send one write (POST/PATCH/PUT/DELETE) and return GitHub's JSON answer."""
        method = method.upper()
        record = {"method": method, "path": path, "body": body}
        self.planned.append(record)
        if self.dry_run or self.gh is None:
            self._emit(json.dumps(record, sort_keys=False))
            return _stand_in(method, path, body, len(self.planned))
        resp = await self.gh.arequest(method, path, json=body)
        if resp.status_code == 204 or not resp.content:
            return {}
        data = resp.json()
        return data if isinstance(data, dict) else {"items": data}
