"""Posting a review: one per head SHA, event COMMENT, inline comments only where GitHub takes them.

The review body carries a hidden marker with the head SHA; before any model is called the bot's
own reviews are listed, and a review already carrying this SHA's marker means there is nothing
to write. Model calls take minutes, so two deliveries may both list none: the review handler
also takes a hold on the head SHA (``bot.store.holds``), and the second is refused there. A finding
goes inline only when its line is on the right side of its file's diff (``bot.github.diffmap``); every
other finding is folded into the body with the reason, so nothing the model found is lost to a
422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.answers.findings import Finding
from bot.github.comments import marker, own_comment
from bot.github.diffmap import DiffMap
from bot.github.rest import http_status, paginate

if TYPE_CHECKING:
    from bot.github.session import Session

KIND = "review"
MAX_INLINE = 50  # more inline comments than this bury the pull request; the rest go in the body
BODY_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters; room for the footer
COMMENT_LIMIT = 8_000


def review_marker(number: int, sha: str) -> str:
    return marker(KIND, pr=number, sha=sha)


async def bot_reviews(session: Session, number: int) -> list[dict[str, Any]]:
    """Every review of the pull request (the bot's own are picked out by ``review_for``)."""
    found = await paginate(session.gh, f"/repos/{session.repo}/pulls/{number}/reviews")
    return [r for r in found if isinstance(r, dict)]


def review_for(session: Session, reviews: Sequence[dict[str, Any]], number: int, sha: str) -> dict[str, Any] | None:
    """The bot's review of this head SHA among ``reviews``, if it already wrote one."""
    return own_comment(session, reviews, review_marker(number, sha))  # the comments' rule: marker first


@dataclass(frozen=True)
class Folded:
    finding: Finding
    why: str


def not_inline(path: str, line: int | None, diffmap: DiffMap, placed: int,
               outside: str = "file not changed in this pull request") -> str | None:
    """Why a comment on ``path`` at ``line`` cannot go inline when ``placed`` already are;
    None when GitHub takes it there. ``outside`` is the reason for a file the diff does not show."""
    if path not in diffmap:
        return outside
    if line is None:
        return "about the whole file"
    if not diffmap.can_comment(path, line):
        return f"line {line} is not part of the diff"
    if placed >= MAX_INLINE:
        return f"more than {MAX_INLINE} inline comments"
    return None


def place(findings: Sequence[Finding], diffmap: DiffMap,
          outside: str = "file not changed in this pull request") -> tuple[list[Finding], list[Folded]]:
    """-> (inline findings, findings for the body with the reason each is not inline);
    ``outside`` is the reason for a file the diff does not show."""
    inline: list[Finding] = []
    folded: list[Folded] = []
    for f in findings:
        why = not_inline(f.path, f.line, diffmap, len(inline), outside)
        if why is None:
            inline.append(f)
        else:
            folded.append(Folded(f, why))
    return inline, folded


def inline_comment(f: Finding) -> dict[str, Any]:
    return {"path": f.path, "line": f.line, "side": "RIGHT", "body": f"**{f.severity}**: {f.message}"[:COMMENT_LIMIT]}


def folded_line(item: Folded) -> str:
    """One body line for a finding that is not inline; a multi-line message stays in the item."""
    where = f"`{item.finding.path}`" + (f" line {item.finding.line}" if item.finding.line else "")
    message = item.finding.message.replace("\n", "\n  ")
    return f"- **{item.finding.severity}** {where}: {message} _(not inline: {item.why})_"


def fit(items: Sequence[str], room: int) -> tuple[list[str], int]:
    """As many items as fit in ``room`` characters; -> (kept, how many were left out)."""
    kept: list[str] = []
    for item in items:
        if len(item) + 1 > room:
            break
        kept.append(item)
        room -= len(item) + 1
    return kept, len(items) - len(kept)


async def post_review(session: Session, number: int, sha: str, body: str, comments: list[dict[str, Any]]) -> dict[str, Any]:
    """POST the review (event COMMENT, pinned to the reviewed SHA). Should GitHub still refuse
    an inline comment (the diff changed under it), post once more with none inline."""
    path = f"/repos/{session.repo}/pulls/{number}/reviews"
    payload = {"commit_id": sha, "event": "COMMENT", "body": body, "comments": comments}

    async def written() -> dict[str, Any] | None:  # a lost answer: is this SHA's review there?
        return review_for(session, await bot_reviews(session, number), number, sha)

    try:
        return await session.writes.create(path, payload, find=written)
    except Exception as exc:
        if http_status(exc) != 422 or not comments:
            raise
        session.log.warning("review: GitHub refused the inline comments (%s); posting them in the body", exc)
        listed = "\n".join(f"- `{c['path']}` line {c['line']}: {c['body']}" for c in comments)
        extra = f"\n\n**Comments GitHub would not place inline:**\n{listed}"
        fallback = body + extra if len(body) + len(extra) <= BODY_LIMIT else body
        return await session.writes.create(path, {**payload, "body": fallback, "comments": []}, find=written)


async def update_review(session: Session, number: int, review_id: int, body: str) -> dict[str, Any]:
    """Replace the body of one of the bot's reviews (``PUT``: sent twice, it writes once)."""
    path = f"/repos/{session.repo}/pulls/{number}/reviews/{review_id}"
    return await session.writes.request("PUT", path, {"body": body})
