"""What the debug phase shows its models: the red CI run for the diagnosis, the diagnosis for the fix.

The diagnosis (high-reasoning) reads the pull request and, when it is the bot's, the approved
spec; the failing checks with their annotations and cut job logs (``ci_logs_prompt``); the
change (each file's diff, numbered by head line); and the files the logs and annotations point
at, as they are at the head SHA CI ran on, numbered so a diagnosis can cite lines. The fix (the
implement profile) gets the diagnosis and the files it names, verbatim, in the implement
phase's edit format, and its edit plan is applied with every guard of that phase.

Reads run concurrently: the diff and the named files together, once the failures are known.
Logs, annotations, check output and the pull request's text are untrusted and cleaned; code is
shown verbatim (search blocks must copy it exactly).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.answers.edits import WHOLE_FILE_MAX_BYTES, decoded
from bot.github.gitdata import read_files
from bot.github.issue_reads import clean
from bot.github.pull_reads import FileList, list_files
from bot.prompts import packing
from bot.prompts.ci_logs_prompt import Excerpt, cut_log, named_files, named_places
from bot.prompts.review_pieces import diff_text
from bot.templates import render

if TYPE_CHECKING:
    from bot.answers.diagnosis import Diagnosis
    from bot.answers.spec_doc import EmbeddedSpec
    from bot.github.ci_reads import Failures
    from bot.github.git_base import BaseSnapshot
    from bot.github.pull_reads import PullInfo
    from bot.github.session import Session

LOG_CHARS = 48_000  # of all job logs together
NAMED_FILES = 12  # files the failure points at, read at the head
FILE_BYTES = 60_000  # a larger named file is left out of the diagnosis prompt
DIFF_CHARS = 120_000
TREE_PATHS = 2_000
OUTPUT_CHARS = 4_000  # of a check run's own summary and text
DESCRIPTION_CHARS = 3_000  # of the pull request's description: the code and the logs matter more


@dataclass
class DebugInput:
    """Everything the diagnosis prompt is built from; ``contents`` grows as the fix reads more."""

    pull: PullInfo
    head: BaseSnapshot  # the tree at the head SHA CI ran on
    failures: Failures
    excerpts: dict[int, Excerpt]  # cut logs, by check run id
    diff: FileList
    contents: dict[str, bytes] = field(default_factory=dict)  # files read at the head
    places: list[tuple[str, int]] = field(default_factory=list)  # (path, line) the failure names
    spec: EmbeddedSpec | None = None  # the bot's approved spec, digest checked (its own pull requests)

    @property
    def first_failure(self) -> str:
        """The first failing test (from the logs, else the first failure annotation), or ""."""
        found = next((e.first_failure for e in self.excerpts.values() if e.first_failure), "")
        if found:
            return found
        notes = [a for f in self.failures.failing for a in f.annotations if a.level == "failure"]
        return clean(f"{notes[0].title}: {notes[0].message}" if notes[0].title else notes[0].message, 300) if notes else ""


async def complete(session: Session, pull: PullInfo, head: BaseSnapshot, failures: Failures,
                   spec: EmbeddedSpec | None, concurrency: int) -> DebugInput:
    """The diff and the files the failure names (at the head), read concurrently."""
    share = LOG_CHARS // max(1, sum(1 for f in failures.failing if f.log))
    excerpts = {f.id: cut_log(f.log, max_chars=min(share, 16_000)) for f in failures.failing if f.log}
    paths = head.files()
    texts = [*(f.log or "" for f in failures.failing), *(f.summary + "\n" + f.text for f in failures.failing)]
    places = named_places(texts, set(paths))
    places += [(a.path, a.start_line) for f in failures.failing for a in f.annotations
               if a.path in head.items and (a.path, a.start_line) not in places]
    wanted = [p for p in named_files(places, NAMED_FILES) if (head.items[p].size or 0) <= FILE_BYTES]
    diff, contents = await asyncio.gather(list_files(session, pull), read_files(session, head, wanted, concurrency))
    return DebugInput(pull, head, failures, excerpts, diff, contents, places, spec)


def _numbered(inp: DebugInput, paths: list[str]) -> list[dict[str, str]]:
    out = []
    for path in paths:
        text = decoded(inp.contents.get(path))
        if text is not None:
            body = packing.numbered_text(text)
            out.append({"path": path, "body": body, "fence": packing.fence_for(body)})
    return out


def _diff(inp: DebugInput) -> tuple[list[str], int]:
    shown: list[str] = []
    room = DIFF_CHARS
    for f in inp.diff.files:
        text = diff_text(f, packing.numbered_patch(f.patch) if f.patch is not None else None)
        if len(text) > room:
            break
        shown.append(text)
        room -= len(text)
    return shown, len(inp.diff.files) + inp.diff.not_listed - len(shown)


def _checks(inp: DebugInput) -> list[dict[str, Any]]:
    return [{
        "name": clean(f.name, 200), "conclusion": f.conclusion, "app": f.app,
        "title": clean(f.title, 300), "output": clean(f"{f.summary}\n\n{f.text}", OUTPUT_CHARS),
        "annotations": [{"where": f"{clean(a.path, 300)}:{a.start_line}", "level": a.level,
                         "text": clean(f"{a.title}: {a.message}" if a.title else a.message, 1_000)}
                        for a in f.annotations],
        "log": inp.excerpts[f.id].text if f.id in inp.excerpts else "",
        "log_problem": f.log_problem,
        "fence": packing.fence_for(inp.excerpts[f.id].text) if f.id in inp.excerpts else "```",
    } for f in inp.failures.failing]


def diagnosis_messages(inp: DebugInput, instructions: str) -> list[dict[str, Any]]:
    """The system prompt (the task and its rules) and the user prompt (the red run, then the code)."""
    diff, diff_left_out = _diff(inp)
    files = _numbered(inp, named_files(inp.places, NAMED_FILES))
    user = render(
        "prompts/debug_user.md.j2",
        pull=inp.pull, description=clean(inp.pull.body, DESCRIPTION_CHARS), sha=inp.failures.sha,
        spec_json=inp.spec.spec.model_dump_json(indent=2) if inp.spec else "",
        checks=_checks(inp), not_read=[clean(n, 200) for n in inp.failures.not_read],
        diff=diff, diff_left_out=diff_left_out, files=files, instructions=instructions,
    )
    return [{"role": "system", "content": render("prompts/debug_system.md.j2")}, {"role": "user", "content": user}]


async def read_for_fix(session: Session, inp: DebugInput, diagnosis: Diagnosis, concurrency: int) -> list[str]:
    """Read the existing files the diagnosis names (at the head); the paths the fix prompt shows."""
    named = [p for p in diagnosis.paths() if p in inp.head.items and inp.head.items[p].type == "blob"]
    missing = [p for p in named if p not in inp.contents]
    inp.contents.update(await read_files(session, inp.head, missing, concurrency))
    failing_files = [p for p in named_files(inp.places, NAMED_FILES) if p not in named]
    return [p for p in [*named, *failing_files] if decoded(inp.contents.get(p)) is not None]


def fix_messages(inp: DebugInput, diagnosis: Diagnosis, shown: list[str], deny_paths: list[str],
                 instructions: str, round_no: int, rounds: int) -> list[dict[str, Any]]:
    """The implement phase's edit format, with the diagnosis as the task and the files verbatim."""
    system = render("prompts/fix_system.md.j2", whole_file_max=WHOLE_FILE_MAX_BYTES, deny_paths=deny_paths)
    files = inp.head.files()
    user = render(
        "prompts/fix_user.md.j2",
        pull=inp.pull, sha=inp.failures.sha, diagnosis=diagnosis, first_failure=inp.first_failure,
        checks=[clean(f.name, 200) for f in inp.failures.failing], round_no=round_no, rounds=rounds,
        tree=files[:TREE_PATHS], tree_left_out=max(0, len(files) - TREE_PATHS),
        files=[(p, decoded(inp.contents.get(p)) or "") for p in shown], instructions=instructions,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
