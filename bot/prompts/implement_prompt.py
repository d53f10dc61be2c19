"""What the implementation model is shown: the approved spec first, then the repository.

The spec names the files to change; the model also needs what those files lean on to write code
that fits (the modules they import), and the tests that already cover them. "Obviously depend
on" is kept literal: the direct imports of each named file that resolve to a file in the
repository (Python absolute and relative imports, JavaScript/TypeScript relative imports), and
test files named after it. Nothing transitive: a deeper graph would crowd out the spec.

Repository files are shown verbatim (never cleaned): search blocks must copy them exactly.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.answers.edits import WHOLE_FILE_MAX_BYTES, TreeItem, decoded, normalise_path
from bot.github.git_base import BaseSnapshot, read_base
from bot.github.gitdata import branch_for, branch_head, open_pull, read_files
from bot.github.issue_reads import IssueReads, read_issue
from bot.templates import render

if TYPE_CHECKING:
    from bot.answers.spec_doc import EmbeddedSpec
    from bot.dispatch.context import Context

MAX_CONTEXT_FILES = 40
MAX_CONTEXT_BYTES = 400_000  # about 100k tokens of files: leaves room in a 200k window
MAX_RELATED_PER_FILE = 8
TREE_PATHS = 3_000

_PY_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\(?([\w*, \t]+)", re.MULTILINE)
_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w., \t]+)", re.MULTILINE)
_JS_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\(\s*)['"](\.{1,2}/[^'"\n]+)['"]"""
)
_JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")


@dataclass
class ImplementInput:
    """Everything the prompt is built from, and the file contents applying a plan needs."""

    context: IssueReads
    spec: EmbeddedSpec
    spec_url: str
    base: BaseSnapshot
    contents: dict[str, bytes] = field(default_factory=dict)  # every file read so far
    shown: list[str] = field(default_factory=list)  # files whose content the prompt holds
    omitted: list[str] = field(default_factory=list)  # named or related, left out (size, binary)


def _is_file(items: Mapping[str, TreeItem], path: str) -> bool:
    item = items.get(path)
    return item is not None and item.type == "blob"


def _python_deps(path: str, text: str, items: Mapping[str, TreeItem]) -> list[str]:
    parts = posixpath.dirname(path).split("/") if "/" in path else []
    # an absolute import may be rooted at any ancestor directory (src/ layouts, monorepos)
    ancestors = [""] + ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
    modules: list[tuple[list[str], str]] = []  # (directory prefixes to try, dotted name)
    for dots, module, names in _PY_FROM.findall(text):
        if dots:  # relative: one dot is this package, each further dot one level up
            up = parts[: max(0, len(parts) - (len(dots) - 1))]
            roots = ["/".join(up) + "/" if up else ""]
        else:
            roots = ancestors
        subs = [n.strip().split(" ")[0] for n in names.split(",") if n.strip() and n.strip() != "*"]
        if module:
            modules.append((roots, module))
        modules += [(roots, f"{module}.{n}" if module else n) for n in subs]
    for group in _PY_IMPORT.findall(text):
        modules += [(ancestors, part.split(" as ")[0].strip()) for part in group.split(",") if part.strip()]
    found: list[str] = []
    for roots, dotted in modules:
        rel = dotted.replace(".", "/")
        hit = next(
            (c for prefix in roots for c in (f"{prefix}{rel}.py", f"{prefix}{rel}/__init__.py") if _is_file(items, c)),
            None,
        )
        if hit and hit != path and hit not in found:
            found.append(hit)
    return found


def _js_deps(path: str, text: str, items: Mapping[str, TreeItem]) -> list[str]:
    found: list[str] = []
    for spec in _JS_IMPORT.findall(text):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
        candidates = [target] + [target + ext for ext in _JS_EXTENSIONS] + [f"{target}/index{ext}" for ext in _JS_EXTENSIONS]
        hit = next((c for c in candidates if _is_file(items, c)), None)
        if hit and hit != path and hit not in found:
            found.append(hit)
    return found


def _tests_for(path: str, items: Mapping[str, TreeItem]) -> list[str]:
    name = posixpath.basename(path)
    stem, ext = posixpath.splitext(name)
    if not stem or stem.startswith("test_") or stem.endswith(("_test", ".test", ".spec")):
        return []
    wanted = {f"test_{stem}{ext}", f"{stem}_test{ext}", f"{stem}.test{ext}", f"{stem}.spec{ext}"}
    return sorted(p for p, item in items.items() if item.type == "blob" and posixpath.basename(p) in wanted)


def related_paths(named: list[str], items: Mapping[str, TreeItem], contents: Mapping[str, bytes]) -> list[str]:
    """Files the named files directly import, and their tests (not the named files themselves)."""
    related: list[str] = []
    for path in named:
        text = contents.get(path, b"").decode("utf-8", errors="replace")
        if path.endswith(".py"):
            deps = _python_deps(path, text, items)
        elif path.endswith(_JS_EXTENSIONS):
            deps = _js_deps(path, text, items)
        else:
            deps = []
        for dep in (deps + _tests_for(path, items))[:MAX_RELATED_PER_FILE]:
            if dep not in named and dep not in related:
                related.append(dep)
    return related


def named_paths(spec: EmbeddedSpec) -> list[str]:
    """The spec's files, as repository paths (invalid ones are left to the model's plan)."""
    paths: list[str] = []
    for item in spec.spec.files_to_change:
        path, error = normalise_path(item.path)
        if error is None and path not in paths:
            paths.append(path)
    return paths


@dataclass(frozen=True)
class FirstReads:
    """What the phase reads before anything else, all in one concurrent wave."""

    context: IssueReads  # the repository, the issue and its comments (the spec is among them)
    base: BaseSnapshot | None  # the default branch's head and tree (None: an empty repository)
    branch_head: str | None  # the bot's branch ``model-routing/issue-N`` (None: not there yet)
    pull: dict[str, Any] | None  # its open pull request, if any


async def first_reads(ctx: Context, number: int) -> FirstReads:
    """The issue context, the default branch (named by the event; read again only if it was
    renamed since), the bot's branch and its open pull request, concurrently."""
    hint = ctx.branch_hint
    branch = branch_for(number)
    context, base, head, pull = await asyncio.gather(
        # the base's listing is the tree
        read_issue(ctx.session, number, contributing=True, tree=False, branch_hint=ctx.branch_hint),
        read_base(ctx.session, hint) if hint else asyncio.sleep(0, None),
        branch_head(ctx.session, branch),
        open_pull(ctx.session, branch),
    )
    default = context.repo.default_branch
    if hint != default:  # the event named none, or a branch since renamed
        base = await read_base(ctx.session, default)
    return FirstReads(context, base, head, pull)


async def gather(ctx: Context, first: FirstReads, spec: EmbeddedSpec, spec_url: str) -> ImplementInput:
    """The files to show: named ones and their tests (the tree names both) in one wave, then what
    the named files import (their content names it)."""
    base = first.base
    if base is None:  # only now an error: a missing spec is reported first, as it always was
        raise RuntimeError(f"the default branch {first.context.repo.default_branch!r} has no commit to build on")
    concurrency = ctx.config.limits.fetch_concurrency
    named = [p for p in named_paths(spec) if _is_file(base.items, p)]
    tests = [t for p in named for t in _tests_for(p, base.items)[:MAX_RELATED_PER_FILE]]
    contents = await read_files(ctx.session, base, named + tests, concurrency)
    related = related_paths(named, base.items, contents)
    contents.update(await read_files(ctx.session, base, [p for p in related if p not in contents], concurrency))
    found = ImplementInput(first.context, spec, spec_url, base, contents)
    total = 0
    for path in named + related:
        text = decoded(contents.get(path))
        size = len(contents.get(path, b""))
        if text is None or len(found.shown) >= MAX_CONTEXT_FILES or total + size > MAX_CONTEXT_BYTES:
            found.omitted.append(path)
            continue
        found.shown.append(path)
        total += size
    return found


def messages(found: ImplementInput, deny_paths: list[str], instructions: str) -> list[dict[str, Any]]:
    """The system prompt (the edit format and the rules) and the user prompt (spec, then repo)."""
    files = found.base.files()
    system = render("prompts/implement_system.md.j2", whole_file_max=WHOLE_FILE_MAX_BYTES, deny_paths=deny_paths)
    user = render(
        "prompts/implement_user.md.j2",
        issue=found.context.issue,
        spec=found.spec,
        spec_json=found.spec.spec.model_dump_json(indent=2),
        repo=found.context.repo,
        tree=files[:TREE_PATHS],
        tree_left_out=max(0, len(files) - TREE_PATHS) or (1 if found.base.truncated else 0),
        files=[(p, decoded(found.contents.get(p)) or "") for p in found.shown],
        omitted=found.omitted,
        instructions=instructions,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def repair_message(errors: list[str], files: list[tuple[str, str]], escalated: bool) -> dict[str, Any]:
    """The follow-up that quotes the exact errors (and the files the model had not seen)."""
    text = render("prompts/implement_repair.md.j2", errors=errors, files=files, escalated=escalated)
    return {"role": "user", "content": text}
