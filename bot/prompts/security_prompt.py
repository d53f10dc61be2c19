"""What the security model is shown, within the routed profile's window, and what it was not.

In order of priority, each taken while it fits (``bot.prompts.security_scope`` says which
files are which):

1. the diffs of the sensitive files (numbered with their head lines, so findings name lines);
2. the repository's security policy (``SECURITY.md`` where GitHub looks for it, as the base
   branch has it: a pull request does not rewrite the policy it is judged by; cleaned like any
   untrusted text, since hidden markup there would reach the model unseen by people);
3. the whole head version of each sensitive file (those the diff does not already show whole),
   smallest first, within ``limits.context_tokens`` with the policy;
4. the diffs of the other changed files the diff connects to them (imports, callers).

Every other changed file is named, not shown. The prompt is then counted as the router counts
it; pieces shed while it is over (lowest priority first). Whatever is not sent is named in the
coverage line with the reason. The window is the routed profile's: a security review never
escalates to a wider, different class of model to make room for context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.answers.security_findings import SecurityFinding, SecurityReply
from bot.github.diffmap import DiffMap
from bot.github.pull_reads import MAX_LISTED_FILES, ChangedFile, FileList, PullInfo, read_text_at, read_texts, read_tree
from bot.llm import structured
from bot.prompts import packing
from bot.prompts.packing import Piece
from bot.prompts.related_files import MAX_CONTENT_BYTES, choose_by_estimate, head_candidates
from bot.prompts.review_pieces import content_text, count_all, diff_text
from bot.prompts.security_scope import Scope, right_side
from bot.safety import clean_untrusted
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context
    from bot.llm.model_router import ModelRouter

POLICY_PATHS = (".github/SECURITY.md", "SECURITY.md", "docs/SECURITY.md")  # where GitHub looks, in its order
NAMED_OTHERS = 200  # other changed files named in the prompt at most
EXCERPT_LINES = 20  # either side of a finding's line, for the false-positive check


@dataclass
class SecurityCoverage:
    """What the security model read, what it did not, and why."""

    files_changed: int
    in_scope: int = 0  # sensitive files (or every file, on /security when none is)
    in_scope_read: int = 0  # of them, whose diff was sent
    lines_read: int = 0  # changed lines of the sensitive files' diffs sent
    head_files: int = 0  # whole head versions sent
    connected: int = 0
    connected_read: int = 0
    others: int = 0  # changed files only named
    policy: str = ""  # the policy file sent, if any
    tokens: int = 0
    window: int = 0
    reserve: int = 0
    left_out: list[str] = field(default_factory=list)


@dataclass
class SecurityInput:
    pull: PullInfo
    files: FileList
    scope: Scope
    messages: list[dict[str, Any]]
    coverage: SecurityCoverage
    profile: str
    lines: dict[str, dict[int, str]]  # path -> head line -> text, as far as they were read

    @cached_property
    def diffmap(self) -> DiffMap:
        return DiffMap({f.path: f.patch for f in self.files.files})

    def line_text(self, path: str, line: int | None) -> str | None:
        return self.lines.get(path, {}).get(line) if line is not None else None

    def excerpt(self, path: str, line: int | None) -> str:
        """The numbered head lines around ``line`` that were read (the whole file's, or the diff's)."""
        known = self.lines.get(path, {})
        if line is None:
            return ""
        return "\n".join(f"{n:>6}  {known[n]}" for n in range(max(1, line - EXCERPT_LINES), line + EXCERPT_LINES + 1)
                         if n in known)


async def read_policy(ctx: Context, ref: str) -> tuple[str, str] | None:
    """(path, cleaned text) of the security policy at ``ref``, the first GitHub would show."""
    found = await asyncio.gather(*(read_text_at(ctx.session, path, ref) for path in POLICY_PATHS))
    for path, text in zip(POLICY_PATHS, found, strict=True):
        if text is not None and text.strip():
            return path, clean_untrusted(text)
    return None


def _diff(f: ChangedFile) -> str:
    return diff_text(f, packing.numbered_patch(f.patch) if f.patch is not None else None)


def _messages(ctx: Context, pull: PullInfo, scope: Scope, pieces: Sequence[Piece], why: dict[str, str]) -> list[dict[str, Any]]:
    system = render("prompts/security_system.md.j2", repo=ctx.repo, instructions=ctx.config.instructions.get("security", ""))
    others = [f.path for f in scope.others]
    user = render("prompts/security_user.md.j2", repo=ctx.repo, pull=pull,
                  sensitive=[(s.file.path, s.pattern) for s in scope.sensitive],
                  connected=[(c.file.path, c.why) for c in scope.connected],
                  others=others[:NAMED_OTHERS], more_others=max(0, len(others) - NAMED_OTHERS),
                  pieces=[p.text for p in pieces], why=why)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def _counted(router: ModelRouter, messages: list[dict[str, Any]]) -> int:
    sized = structured.with_instructions(messages, SecurityReply, native=False)
    return await asyncio.to_thread(router.count_tokens, sized)


async def assemble_security(ctx: Context, pull: PullInfo, router: ModelRouter, listed: FileList, scope: Scope) -> SecurityInput:
    count = router.count_tokens
    reserve = ctx.config.limits.output_reserve_tokens
    profile = router.decide(router.phase, labels=pull.labels).profile
    window = router.window(profile)
    room = window - reserve - packing.margin(window)
    cap = ctx.config.limits.context_tokens
    cov = SecurityCoverage(files_changed=max(pull.changed_files, len(listed.files)), in_scope=len(scope.sensitive),
                           connected=len(scope.connected), others=len(scope.others), window=window, reserve=reserve)
    in_scope = [s.file for s in scope.sensitive]
    tree_read = asyncio.ensure_future(read_tree(ctx.session, pull.head_sha))
    policy_read = asyncio.ensure_future(read_policy(ctx, pull.base_sha or pull.base_ref))
    try:
        texts = await asyncio.to_thread(lambda: [_diff(f) for f in in_scope] + [_diff(c.file) for c in scope.connected])
        tokens = await count_all(count, texts)
        diffs = [Piece("diff", f.path, t, n, f.additions + f.deletions if f.patch is not None else 0)
                 for f, t, n in zip([*in_scope, *(c.file for c in scope.connected)], texts, tokens, strict=True)]
        tree, policy = await tree_read, await policy_read
    finally:
        tree_read.cancel()
        policy_read.cancel()
    why = {c.file.path: c.why for c in scope.connected}
    bare = await _counted(router, _messages(ctx, pull, scope, [], why))
    budget = room - bare
    sens, sens_over = packing.take_within(diffs[: len(in_scope)], budget)
    budget -= sum(p.tokens for p in sens)

    context: list[Piece] = []
    if policy is not None and len(policy[1]) > MAX_CONTENT_BYTES:
        cov.left_out.append(f"the security policy `{policy[0]}`: larger than {MAX_CONTENT_BYTES // 1000} KB")
    elif policy is not None:
        text = render("prompts/security_policy.md.j2", path=policy[0], body=policy[1], fence=packing.fence_for(policy[1]))
        context.append(Piece("related", policy[0], text, count(text)))
    heads, skipped, _ = head_candidates(in_scope, tree.by_path)
    capped = cap < budget  # what stops the context files: the cap, or the window
    context_room = min(budget, cap)
    fetch = choose_by_estimate(heads, context_room - sum(p.tokens for p in context))
    head_texts = await read_texts(ctx.session, [(t.path, t.sha) for t in fetch])
    rendered = await asyncio.to_thread(lambda: [(path, content_text("head", path, text))
                                                for path, text in head_texts.items() if text is not None])
    for (path, text), n in zip(rendered, await count_all(count, [r[1] for r in rendered]), strict=True):
        context.append(Piece("head", path, text, n))
    context_taken, context_over = packing.take_within(context, context_room)
    budget -= sum(p.tokens for p in context_taken)
    conn, conn_over = packing.take_within(diffs[len(in_scope):], budget)

    async def build(kept: list[Piece]) -> tuple[list[dict[str, Any]], int]:
        messages = _messages(ctx, pull, scope, kept, why)
        return messages, await _counted(router, messages)

    messages, cov.tokens, sent, _ = await packing.shed_to_fit(build, [*sens, *context_taken, *conn], room)
    sent_ids = {id(p) for p in sent}
    shed = [p for p in [*sens, *context_taken, *conn] if id(p) not in sent_ids]
    _note(cov, listed, in_scope, scope, sent, sens_over, context_over, conn_over, shed, skipped, head_texts,
          len(heads) - len(fetch), cap if capped else None)
    lines = {f.path: right_side(f.patch) for f in listed.files if f.patch}
    for path, head in head_texts.items():
        if head is not None:
            lines[path] = dict(enumerate(head.split("\n"), 1))
    return SecurityInput(pull, listed, scope, messages, cov, profile, lines)


def _note(cov: SecurityCoverage, listed: FileList, in_scope: Sequence[ChangedFile], scope: Scope, sent: Sequence[Piece],
          sens_over: Sequence[Piece], context_over: Sequence[Piece], conn_over: Sequence[Piece], shed: Sequence[Piece],
          skipped: dict[str, int], head_texts: dict[str, str | None], unfetched: int, cap: int | None) -> None:
    """Fill in what was read, and name what was not, with why."""
    scope_paths = {f.path for f in in_scope}
    with_patch = {f.path for f in listed.files if f.patch is not None}
    diffs = [p for p in sent if p.kind == "diff"]
    cov.in_scope_read = sum(1 for p in diffs if p.path in scope_paths and p.path in with_patch)
    cov.connected_read = sum(1 for p in diffs if p.path not in scope_paths)
    cov.lines_read = sum(p.lines for p in diffs if p.path in scope_paths)
    cov.head_files = sum(1 for p in sent if p.kind == "head")
    cov.policy = next((p.path for p in sent if p.kind == "related"), "")
    short = f"not enough room in the {cov.window:,}-token window"
    late = {p.path for p in shed}
    out = cov.left_out
    if listed.not_listed:
        out.append(f"{packing.plural(listed.not_listed, 'changed file')}: GitHub's files API lists at most "
                   f"{MAX_LISTED_FILES:,} files of a pull request, so these were not seen")
    no_patch = [f.path for f in [*in_scope, *(c.file for c in scope.connected)] if f.patch is None and f.status != "renamed"]
    if no_patch:
        out.append(f"the diff of {packing.plural(len(no_patch), 'file')} (binary, or too large for GitHub to show): "
                   + packing.summarise_paths(no_patch))
    over = [p.path for p in sens_over] + [p.path for p in shed if p.kind == "diff" and p.path in scope_paths]
    if over:
        out.append(f"the diff of {packing.plural(len(over), 'sensitive file')} ({packing.summarise_paths(over)}): {short}")
    for reason, n in skipped.items():
        out.append(f"the whole head version of {packing.plural(n, 'sensitive file')}: {reason}")
    binary = [path for path, text in head_texts.items() if text is None]
    if binary:
        out.append(f"the whole head version of {packing.summarise_paths(binary)}: binary")
    context_why = f"limits.context_tokens ({cap:,} tokens of context files) reached" if cap is not None else short
    heads_out = unfetched + sum(1 for p in context_over if p.kind == "head")
    heads_shed = sum(1 for p in shed if p.kind == "head")
    if heads_out:
        out.append(f"the whole head version of {packing.plural(heads_out, 'sensitive file')}: {context_why}")
    if heads_shed:
        out.append(f"the whole head version of {packing.plural(heads_shed, 'sensitive file')}: {short}")
    for p in context_over:
        if p.kind == "related":
            out.append(f"the security policy `{p.path}`: {context_why}")
    for p in shed:
        if p.kind == "related":
            out.append(f"the security policy `{p.path}`: {short}")
    conn = [p.path for p in conn_over] + [p.path for p in shed if p.kind == "diff" and p.path in late - scope_paths]
    if conn:
        out.append(f"the diff of {packing.plural(len(conn), 'connected file')} ({packing.summarise_paths(conn)}): {short}")


def check_messages(ctx: Context, inp: SecurityInput, findings: Sequence[SecurityFinding]) -> list[dict[str, Any]]:
    """The false-positive check: each finding with the head lines around it, nothing else."""
    system = render("prompts/security_check_system.md.j2", repo=ctx.repo)
    shown = [{"n": i, "f": f, "excerpt": inp.excerpt(f.path, f.line),
              "fence": packing.fence_for(inp.excerpt(f.path, f.line))} for i, f in enumerate(findings, 1)]
    user = render("prompts/security_check_user.md.j2", pull=inp.pull, repo=ctx.repo, findings=shown)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
