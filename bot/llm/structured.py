"""Structured answers: ask a model for JSON that fits a pydantic model, read it back, and word
the one repair request when it does not fit.

Models that litellm says support ``response_format`` with a JSON Schema get it; every model also
gets the schema in the prompt and is asked for a fenced ```json block, because the reader must
tolerate the fences and prose that models add anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.templates import render

_FENCED = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n?[ \t]*```", re.DOTALL)
M = TypeVar("M", bound=BaseModel)
MAX_ERRORS = 20  # a repair request quotes at most this many errors


class OutputInvalid(ValueError):
    """The answer is not JSON that fits the model; ``errors`` is what the repair request quotes."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def response_format(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI-style ``response_format`` litellm translates for each provider."""
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": schema_of(model), "strict": False},
    }


def with_instructions(messages: list[dict[str, Any]], model: type[BaseModel], native: bool) -> list[dict[str, Any]]:
    """The messages with the JSON instructions added to the system message (one is added first
    when there is none), so the user's text stays as it was."""
    text = render("prompts/json_output.md.j2", schema=json.dumps(schema_of(model), indent=2), native=native)
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
        out[0]["content"] = f"{out[0]['content'].rstrip()}\n\n{text}"
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


def repair_messages(
    messages: list[dict[str, Any]], answer: str, errors: list[str], native: bool
) -> list[dict[str, Any]]:
    """The conversation so far, the invalid answer, and a request quoting what was wrong."""
    request = render("prompts/json_repair.md.j2", errors=errors[:MAX_ERRORS], native=native)
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": request}]


def _json_texts(text: str) -> list[str]:
    """Where the JSON may be: fenced blocks, the whole text, the outermost braces."""
    found = [m.group("body") for m in _FENCED.finditer(text)]
    found.append(text.strip())
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        found.append(text[start : end + 1])
    return found


def parse(text: str, model: type[M]) -> M:
    """The answer as ``model``; OutputInvalid with readable errors when it is not."""
    decoded: list[Any] = []
    problems: list[str] = []
    for candidate in _json_texts(text or ""):
        try:
            decoded.append(json.loads(candidate))
        except json.JSONDecodeError as exc:
            problems.append(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not decoded:
        raise OutputInvalid(problems[:1] or ["the answer contains no JSON object"])
    errors: list[str] = []
    for value in decoded:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            if not errors:  # the first decodable JSON is the one the model meant
                errors = [_describe(e) for e in exc.errors()]
    raise OutputInvalid(errors)


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "(the whole object)"
    return f"{where}: {error.get('msg', 'invalid')}"
