"""The accountability footer every post carries: profile, model, why, tokens, cost and time of
every model call that wrote it (or a note that none did)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.templates import render

if TYPE_CHECKING:
    from bot.llm.result import ModelResult

NO_MODEL_NOTE = "No model was called for this reply."


def footer(results: list[ModelResult[Any]], note: str = "") -> str:
    return render("comments/footer.md.j2", results=results, note=note)
