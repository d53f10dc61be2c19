"""The machine-readable part of a spec comment, which the implementation phase reads.

The spec phase hides it in the comment as base64 JSON inside an HTML comment, with a digest
over it. Anyone with write access can edit a comment in GitHub's UI. Without a key (the Action,
or no webhook secret) the digest is plain SHA-256, which anyone can recompute: it only catches a
careless edit, and ``bot.answers.spec_comment`` is what holds the spec to the text the approver
read. With the operator's webhook secret the digest is an HMAC, which nobody else can make: a
machine-readable part edited together with the visible text is refused as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

from pydantic import BaseModel, Field, ValidationError

BLOCK_RE = re.compile(r"<!-- model-routing:spec-data digest=(?P<digest>[0-9a-f]{64}) (?P<data>[A-Za-z0-9+/=]+) -->")


class FileToChange(BaseModel):
    path: str
    action: str = Field(default="modify", pattern="^(create|modify|delete)$")
    why: str = ""


class SpecData(BaseModel):
    """What the spec model returns in structured form (and what is embedded)."""

    title: str = ""
    summary: str
    requirements: list[str] = Field(default_factory=list)
    design: str = ""
    files_to_change: list[FileToChange] = Field(default_factory=list)
    test_plan: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    acceptance_checks: list[str] = Field(default_factory=list)


class EmbeddedSpec(BaseModel):
    issue: int
    revision: int
    spec: SpecData
    markdown: str  # the visible spec text as the bot wrote it
    # the webhook delivery that wrote this revision: a rerun of the same delivery (a worker died
    # after posting) finds its own work done instead of paying for a second revision
    delivery: str = ""
    # the rest of the visible comment, so the whole of it can be rendered again and compared
    # with what the approver read (bot.answers.spec_comment)
    requested_by: str = ""
    trigger: str = ""
    approve_label: str = ""
    footer: str = ""


class SpecTampered(ValueError):
    pass


def _digest(raw: bytes, key: str | None) -> str:
    if key:
        return hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()
    return hashlib.sha256(raw).hexdigest()


def embed(doc: EmbeddedSpec, key: str | None) -> str:
    raw = json.dumps(doc.model_dump(), separators=(",", ":"), sort_keys=True).encode()
    data = base64.b64encode(raw).decode()
    return f"<!-- model-routing:spec-data digest={_digest(raw, key)} {data} -->"


def extract(body: str, key: str | None) -> EmbeddedSpec | None:
    """The embedded spec, None when the comment has none; SpecTampered when it was changed."""
    match = BLOCK_RE.search(body or "")
    if not match:
        return None
    try:
        raw = base64.b64decode(match["data"], validate=True)
    except ValueError as exc:
        raise SpecTampered("its machine-readable part is not valid base64") from exc
    if not hmac.compare_digest(_digest(raw, key), match["digest"]):
        raise SpecTampered("its machine-readable part was changed after the bot wrote it")
    try:
        return EmbeddedSpec.model_validate_json(raw)
    except ValidationError as exc:
        raise SpecTampered("its machine-readable part is not a spec the bot wrote "
                            f"({exc.error_count()} invalid field(s))") from exc
