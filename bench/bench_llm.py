"""The bench's model: the tests' fake LLM answering every request as a capable model would
(a valid spec, edit plan, review or CI diagnosis of realistic size, chosen by the structure the
request asks for), with usage counted by tiktoken. The world it answers in is bench/scenario.py.
"""

from __future__ import annotations

import time
from typing import Any

from scenario import code_line

from tests.fakes.llm import FakeLLM


def prose(seed: int, chars: int) -> str:
    """English-like text of about ``chars`` characters (specs, summaries, findings)."""
    words = ("the", "limiter", "request", "should", "reject", "bursts", "above", "configured",
             "rate", "and", "record", "each", "decision", "so", "operators", "can", "audit",
             "tokens", "refill", "per", "second", "while", "existing", "clients", "keep", "working")
    out, i = [], seed
    while sum(len(w) + 1 for w in out) < chars:
        out.append(words[(i * 7 + len(out) * 3) % len(words)])
        i += 1
    return (" ".join(out)[:chars].rstrip() + ".").capitalize()


def _prompt_paths(text: str, limit: int) -> list[str]:
    import re

    seen: dict[str, None] = {}
    for m in re.finditer(r"\b(src/[\w/.-]+\.py)\b", text):
        seen.setdefault(m.group(1), None)
        if len(seen) >= limit:
            break
    return list(seen)


def spec_reply(seed: int) -> dict[str, Any]:
    """A spec of realistic size: about 9,000 characters of JSON (2,000+ tokens)."""
    return {
        "title": "Token-bucket rate limiting for the public API",
        "summary": prose(seed, 400),
        "requirements": [prose(seed + i, 160) for i in range(8)],
        "design": "\n\n".join(prose(seed + 10 + i, 600) for i in range(5)),
        "files_to_change": [{"path": f"src/ratelimit/part_{i}.py", "action": "create", "why": prose(seed + i, 90)}
                            for i in range(5)],
        "test_plan": [prose(seed + 20 + i, 140) for i in range(6)],
        "risks": [prose(seed + 30 + i, 140) for i in range(4)],
        "open_questions": [prose(seed + 40 + i, 120) for i in range(3)],
        "acceptance_checks": [prose(seed + 50 + i, 120) for i in range(5)],
    }


def edit_reply(seed: int) -> dict[str, Any]:
    """An implementation of realistic size: three new modules, about 240 lines (4,000+ tokens)."""
    edits = []
    for f in range(3):
        lines = [f'"""Rate limiting, part {f}."""', "", f"def limit_{f}(state):"]
        lines += [code_line(seed * 10 + f, i) for i in range(75)] + ["    return state", ""]
        edits.append({"path": f"src/ratelimit/part_{f}.py", "action": "write", "content": "\n".join(lines)})
    return {"summary": prose(seed, 500), "edits": edits}


def review_reply(seed: int, prompt: str) -> dict[str, Any]:
    """A review of realistic size: a summary and eight findings on paths of the diff."""
    paths = _prompt_paths(prompt, 8) or ["src/app.py"]
    severities = ("minor", "major", "nit", "minor", "critical", "nit", "major", "minor")
    return {
        "summary": prose(seed, 700),
        "verdict": "minor-issues",
        "findings": [{"path": paths[i % len(paths)], "severity": severities[i], "message": prose(seed + i, 260)}
                     for i in range(8)],
    }


def diagnosis_reply(seed: int, prompt: str) -> dict[str, Any]:
    """A diagnosis of a red CI run of realistic size: the evidence quoted from the log excerpt
    in the prompt, the files it names, a two-step plan and one suggestion (~600 tokens)."""
    import re

    evidence = [line.strip() for line in prompt.splitlines()
                if re.search(r"Error|FAILED|exit code", line) and len(line) < 300][:4]
    files = list(dict.fromkeys(re.findall(r"^### `([\w./-]+)`$", prompt, re.MULTILINE)))[:3] or ["src/app.py"]
    return {
        "summary": prose(seed, 120), "root_cause": prose(seed + 1, 700), "evidence": evidence, "files": files,
        "fix_plan": [{"path": files[-1], "change": prose(seed + 2, 260)}, {"path": files[0], "change": prose(seed + 3, 160)}],
        "fixable": True,
        "suggestions": [{"path": files[-1], "start_line": 1, "end_line": 1, "replacement": code_line(seed, 1)}],
    }


def fix_edit_reply(seed: int, prompt: str) -> dict[str, Any]:
    """The edit plan of a CI fix: a search/replace in the first file the prompt shows (the real
    fix of tests/fakes/ci_logs.py's bug where it is still there), a few lines (~200 tokens)."""
    import re

    shown = re.findall(r'<file path="([^"]+)">\n(.*?)\n</file>', prompt, re.DOTALL)
    for path, text in shown:
        if "start + width + 1" in text:
            return {"summary": prose(seed, 300), "edits": [{"path": path, "action": "edit", "blocks": [
                {"search": "range(start, start + width + 1)", "replace": "range(start, start + width)"}]}]}
    path, text = shown[0] if shown else ("src/fix.py", "")
    first = text.split("\n", 1)[0]
    if not first:
        return {"summary": prose(seed, 300), "edits": [{"path": path, "action": "write", "content": code_line(seed, 2)}]}
    return {"summary": prose(seed, 300), "edits": [{"path": path, "action": "edit", "blocks": [
        {"search": first + "\n", "replace": first + "\n# " + prose(seed + 5, 70) + "\n"}]}]}


def reply_for(body: dict[str, Any]) -> str:
    """What a capable model would answer to this request, by the structure it asks for."""
    import json

    from tests.fakes.llm import message_text

    texts = [message_text(m) for m in body.get("messages", [])]
    asked = json.dumps(body.get("response_format") or {}) + (texts[0] if texts else "")
    seed = len(texts[-1]) if texts else 0
    if '"SpecData"' in asked or '"files_to_change"' in asked:
        data: dict[str, Any] = spec_reply(seed)
    elif '"Diagnosis"' in asked:
        data = diagnosis_reply(seed, texts[-1] if texts else "")
    elif '"EditPlan"' in asked and "fixes a failing CI run" in (texts[0] if texts else ""):
        data = fix_edit_reply(seed, texts[-1] if texts else "")
    elif '"EditPlan"' in asked or '"edits"' in asked:
        data = edit_reply(seed)
    elif '"ReviewReply"' in asked or '"verdict"' in asked:
        data = review_reply(seed, texts[-1] if texts else "")
    else:
        return prose(seed, 1500)
    return "```json\n" + json.dumps(data, indent=2) + "\n```"


class BenchLLM(FakeLLM):
    """The tests' fake LLM answering every request as a capable model would (``reply_for``),
    with usage counted by tiktoken's cl100k_base rather than guessed from characters. It keeps
    only (model, prompt tokens, completion tokens) per request: prompts can be megabytes."""

    def __init__(self) -> None:
        super().__init__()
        self.usage: list[tuple[str, int, int]] = []
        self.first_request_at: float | None = None

    def _next(self, model: str, body: dict[str, Any]) -> tuple[Any, int | None]:
        from litellm.litellm_core_utils.default_encoding import encoding

        from tests.fakes.llm import Reply, message_text

        if self.first_request_at is None:
            self.first_request_at = time.monotonic()
        text = reply_for(body)
        messages = body.get("messages", [])
        prompt = "\n".join(message_text(m) for m in messages)
        tokens_in = len(encoding.encode(prompt, disallowed_special=())) + 3 * len(messages)
        tokens_out = len(encoding.encode(text, disallowed_special=()))
        with self._lock:
            self.usage.append((model, tokens_in, tokens_out))
            cached = self.cache.lookup_and_store(model, messages)  # as providers report it
        return Reply(text, prompt_tokens=tokens_in, completion_tokens=tokens_out), cached


def start_bench_llm() -> BenchLLM:
    llm = BenchLLM()
    llm.start()
    return llm
