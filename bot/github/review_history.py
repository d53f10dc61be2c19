"""What the next review of a pull request builds on: the bot's last review, and whether the push
since can be reviewed as a delta or needs the whole change read again (and why).

The last review is found by its marker (``<!-- model-routing:review pr=N sha=SHA -->``, the
head it covers). Its body also carries a hidden record (``review-record``): the *anchor*, the
head whose whole pull request the reference part of the prompt shows (the last full review's;
kept across delta reviews so their prompts start alike and the provider's cache can serve
that part), what the review at the anchor read and cost, and the findings posted so far with
the text of the line each is about. The record is zlib-compressed JSON in hexadecimal: posted
text is neutralised on its way out (``bot.github.writes``), and hexadecimal is the one
alphabet none of those rules touch.

A delta review needs three things of GitHub's compare API: the last reviewed head is an
ancestor of the new head (``status`` ahead: no force-push dropped it), and the pull request
still starts from the same merge base with its base branch (no rebase onto a new base, no
merge of the base branch into it): otherwise the review reads the whole change and says why.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bot.answers.findings import Finding
from bot.answers.reported import Reported
from bot.github.comments import MARKER_RE, marker
from bot.github.compare import Comparison, compare
from bot.github.diffmap import line_at
from bot.github.reviews import KIND, review_marker

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bot.github.pull_reads import ChangedFile, PullInfo
    from bot.github.session import Session

RECORD_KIND = "review-record"
MAX_RECORD_CHARS = 16_000  # of a review body (GitHub takes 65,536): the oldest findings go first
VERSION = 1


@dataclass(frozen=True)
class ReviewRecord:
    anchor: str  # the head whose whole pull request is the reference of delta reviews
    window: int  # the window the review at the anchor was packed for
    tokens: int  # prompt tokens that review read
    usd: float  # what it cost
    findings: tuple[Reported, ...] = ()


def record_text(record: ReviewRecord) -> str:
    """The record as one hidden line, within ``MAX_RECORD_CHARS`` (oldest findings dropped)."""
    findings = list(record.findings)
    while True:
        data = {"a": record.anchor, "w": record.window, "t": record.tokens, "u": round(record.usd, 6),
                "f": [[f.path, f.line, f.severity, f.message, f.anchor] for f in findings]}
        packed = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 9).hex()
        if len(packed) <= MAX_RECORD_CHARS or not findings:
            return marker(RECORD_KIND, v=VERSION, data=packed)
        findings = findings[max(1, len(findings) // 10):]


def read_record(body: str) -> ReviewRecord | None:
    """The record a review body carries; None when it has none or it does not read back."""
    for match in MARKER_RE.finditer(body or ""):
        if match.group("kind") != RECORD_KIND:
            continue
        attrs = dict(a.split("=", 1) for a in match.group("attrs").split())
        try:
            data = json.loads(zlib.decompress(bytes.fromhex(attrs.get("data", ""))))
            findings = tuple(Reported(str(p), int(n) if n is not None else None, str(s), str(m), str(a))
                             for p, n, s, m, a in data["f"])
            return ReviewRecord(str(data["a"]), int(data["w"]), int(data["t"]), float(data["u"]), findings)
        except (ValueError, KeyError, TypeError, zlib.error):
            return None
    return None


@dataclass(frozen=True)
class LastReview:
    id: int
    sha: str  # the head it covers (its marker's; moved on when a push with nothing new was checked)
    commit: str  # the commit it was posted on
    body: str
    record: ReviewRecord | None


def last_review(session: Session, reviews: Sequence[dict[str, Any]], number: int) -> LastReview | None:
    """The bot's latest review of this pull request (GitHub lists them oldest first)."""
    for review in reversed(reviews):
        body = str(review.get("body") or "").lstrip()
        match = MARKER_RE.match(body)
        if match is None or match.group("kind") != KIND or not session.is_bot(review):
            continue
        attrs = dict(a.split("=", 1) for a in match.group("attrs").split())
        if attrs.get("pr") == str(number) and attrs.get("sha"):
            return LastReview(int(review.get("id") or 0), attrs["sha"], str(review.get("commit_id") or attrs["sha"]),
                              body, read_record(body))
    return None


def anchors_of(findings: Sequence[Finding], files: Sequence[ChangedFile],
               texts: Mapping[str, str] | None = None) -> list[str]:
    """The text of the line each finding is about, as the reviewed head has it: from the file's
    new text when it was read, else from its diff when the diff shows the line ("" otherwise)."""
    patches = {f.path: f.patch for f in files}
    out = []
    for f in findings:
        text = (texts or {}).get(f.path)
        if text is not None and f.line is not None:
            lines = text.split("\n")
            out.append(lines[f.line - 1] if f.line <= len(lines) else "")
        else:
            out.append(line_at(patches.get(f.path), f.line) or "")
    return out


CHECKED = "**Checked `"  # opens the line a review gets when a later push brought nothing new


def checked_body(last: LastReview, number: int, head: str, line: str, record: ReviewRecord) -> str:
    """The last review's body, now covering ``head``: its marker names ``head`` (a redelivery of
    this push finds it; the next push is compared with ``head``), one line under its title says
    what was checked (replacing the line an earlier such push left), and the record is renewed."""
    lines = [x for x in last.body.split("\n") if not _is_record(x)]
    lines[0] = review_marker(number, head)
    title = next((i for i, x in enumerate(lines) if x.startswith("## ")), 0)
    after = lines[title + 1 : title + 3]
    if len(after) == 2 and not after[0] and after[1].startswith(CHECKED):
        del lines[title + 1 : title + 3]
    lines[title + 1 : title + 1] = ["", line.strip()]
    return "\n".join(lines).rstrip("\n") + "\n" + record_text(record)


def _is_record(line: str) -> bool:
    match = MARKER_RE.fullmatch(line.strip())
    return match is not None and match.group("kind") == RECORD_KIND


@dataclass(frozen=True)
class Basis:
    """A full review (``why`` says why, "" for a first one) or a delta since ``last``."""

    mode: Literal["full", "delta"]
    why: str = ""
    last: LastReview | None = None
    record: ReviewRecord | None = None
    since: Comparison | None = None  # last reviewed head ... head: what the push changed
    at_anchor: Comparison | None = None  # base ... anchor: the whole pull request at the anchor
    between: Comparison | None = None  # anchor ... last reviewed head (reviewed since the anchor)

    @property
    def delta(self) -> bool:
        return self.mode == "delta"


def full(why: str, last: LastReview | None = None) -> Basis:
    return Basis("full", why, last, last.record if last else None)


def fallback(basis: Basis, why: str) -> Basis:
    """A full review instead of the delta ``basis`` planned."""
    return full(why, basis.last)


async def choose_basis(session: Session, pull: PullInfo, last: LastReview | None, *,
                       incremental: bool, forced: bool) -> Basis:
    if last is None:
        return full("")
    if forced:
        return full("`/review full` asked for the whole change", last)
    if not incremental:
        return full("incremental reviews are switched off (`triggers.incremental_review`)", last)
    record = last.record
    if record is None:
        return full(f"the last review ({last.sha[:7]}) carries no record of what it read", last)
    base = pull.base_ref or pull.base_sha
    reads = [compare(session, last.sha, pull.head_sha, commits=True), compare(session, base, record.anchor),
             compare(session, base, pull.head_sha)]
    if record.anchor != last.sha:
        reads.append(compare(session, record.anchor, last.sha))
    since, at_anchor, now, *rest = await asyncio.gather(*reads)
    if since is None:
        return full(f"{last.sha[:7]}, the last reviewed commit, is no longer in the repository (a force-push)", last)
    moved = at_anchor is not None and now is not None and at_anchor.merge_base != now.merge_base
    if since.status not in ("ahead", "identical"):
        if moved:
            return full(f"the branch was rebased onto a new base ({_bases(at_anchor, now)})", last)
        return full(f"a force-push: {last.sha[:7]}, the last reviewed commit, is no longer in the branch's history", last)
    if at_anchor is None or now is None:
        return full(f"`{base}` and {record.anchor[:7]} have no common ancestor any more", last)
    if moved:
        return full(f"the branch now starts from a new base: `{base}` was merged into it ({_bases(at_anchor, now)})", last)
    between = rest[0] if rest else None
    if rest and (between is None or between.status not in ("ahead", "identical")):
        return full(f"{record.anchor[:7]}, the last fully reviewed commit, is no longer in the branch's history", last)
    return Basis("delta", "", last, record, since, at_anchor, between)


def _bases(before: Comparison | None, after: Comparison | None) -> str:
    return f"merge base {(before.merge_base if before else '')[:7]} -> {(after.merge_base if after else '')[:7]}"
