"""GitHub's own test material, fetched by ``.ci/fetch-github-fixtures`` from the npm registry:
the official OpenAPI description and ``@octokit/webhooks-examples``; and, from PyPI, the OASIS
SARIF 2.1.0 JSON Schema that code scanning uploads are checked against.

Incoming events in tests start from a real example payload and only the fields a test is about
(repository, sender, issue, label, ...) are rewritten, so every other field is what GitHub sends.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

HINT = "run `bash .ci/fetch-github-fixtures` (it needs the npm registry once)"


def fixtures_dir() -> Path:
    return Path(os.environ.get("MODEL_ROUTING_FIXTURES") or Path.home() / ".cache" / "model-routing-bot")


def openapi_path() -> Path:
    return fixtures_dir() / "api.github.com.json"


def examples_path() -> Path:
    return fixtures_dir() / "webhooks-examples" / "api.github.com" / "index.json"


def sarif_schema_path() -> Path:
    return fixtures_dir() / "sarif-schema-2.1.0.json"


def require(path: Path, what: str) -> Path:
    """The fixture, or a failure (never a silent skip) that says how to get it."""
    if not path.is_file():
        pytest.fail(f"{what} is missing at {path}: {HINT}", pytrace=False)
    return path


@cache
def _examples() -> dict[str, list[dict[str, Any]]]:
    index = json.loads(require(examples_path(), "@octokit/webhooks-examples").read_text())
    return {entry["name"]: list(entry.get("examples") or []) for entry in index}


def examples(event: str) -> list[dict[str, Any]]:
    """Every example payload of an event (deep copies)."""
    return copy.deepcopy(_examples().get(event, []))


def example(event: str, action: str | None = None) -> dict[str, Any]:
    for payload in _examples().get(event, []):
        if action is None or payload.get("action") == action:
            return copy.deepcopy(payload)
    raise LookupError(f"no {event}.{action} example in @octokit/webhooks-examples")


def _merge(target: dict[str, Any], updates: dict[str, Any]) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def payload(event: str, action: str | None, *, repo: str, sender: str = "octocat",
            sender_type: str = "User", installation_id: int | None = None,
            default_branch: str = "main", **fields: Any) -> dict[str, Any]:
    """A real example of ``event.action`` rewritten to name ``repo``, ``sender`` and the
    installation, with ``fields`` merged in (dicts merge key by key, anything else replaces)."""
    body = example(event, action)
    owner, name = repo.split("/", 1)
    _merge(body, {"repository": {"full_name": repo, "name": name, "default_branch": default_branch,
                                 "owner": {"login": owner}}})
    _merge(body, {"sender": {"login": sender, "type": sender_type}})
    if installation_id is None:
        body.pop("installation", None)
    else:
        body["installation"] = {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
    _merge(body, fields)
    return body
