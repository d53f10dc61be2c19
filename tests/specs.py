"""The bot's spec comment as the spec phase posts it (rendered by ``bot.answers.spec_comment``,
neutralised as ``bot.github.writes`` does): what tests of later phases seed on an issue, so the
approved spec passes the same integrity check a real one does."""

from __future__ import annotations

from typing import Any

from bot.answers.spec_comment import render_sections, spec_comment
from bot.answers.spec_doc import EmbeddedSpec, SpecData
from bot.github.comments import marker
from bot.llm.footer import footer
from bot.safety import neutralise


def spec_body(number: int, key: str | None, data: dict[str, Any]) -> str:
    spec = SpecData.model_validate(data)
    doc = EmbeddedSpec(issue=number, revision=1, spec=spec, markdown=render_sections(spec, []), requested_by="alice",
                       trigger="`/spec`", approve_label="spec-approved", footer=footer([]))
    return neutralise(spec_comment(doc, marker("spec", issue=number), key), [])
