"""What a review model must answer (a strict, validated shape), and how chunk answers merge.

The verdict is advisory text in the review body; the bot's review event is always COMMENT.
Merging never softens: the merged verdict is the most severe of every chunk's verdict and of
the verdict its findings imply (a critical finding cannot sit under "looks-good").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "major", "minor", "nit", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor", "nit", "info")  # worst first

Verdict = Literal["looks-good", "minor-issues", "needs-changes", "blocking"]
VERDICTS: tuple[Verdict, ...] = ("looks-good", "minor-issues", "needs-changes", "blocking")  # mildest first

# the least severe verdict a finding of each severity allows
VERDICT_FLOOR: dict[Severity, Verdict] = {
    "critical": "blocking",
    "major": "needs-changes",
    "minor": "minor-issues",
    "nit": "minor-issues",
    "info": "looks-good",
}


class Finding(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    path: str = Field(min_length=1, description="file path as listed in the diff")
    line: int | None = Field(
        default=None, ge=1, description="line number in the head (new) version of the file"
    )
    severity: Severity
    message: str = Field(min_length=1, description="what is wrong and how to fix it")

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.severity)


class ReviewReply(BaseModel):
    """The review model's whole answer."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    summary: str = Field(description="what the change does and its main risks, a few sentences")
    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=VERDICTS.index, default="looks-good")


def implied_verdict(reply: ReviewReply) -> Verdict:
    """The reply's verdict, raised to what its worst finding requires."""
    return worst_verdict([reply.verdict, *(VERDICT_FLOOR[f.severity] for f in reply.findings)])


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by file and line; exact duplicates (chunks can overlap) dropped."""
    seen: set[tuple[str, int | None, str]] = set()
    unique: list[Finding] = []
    for f in findings:
        key = (f.path, f.line, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return sorted(unique, key=lambda f: (f.rank, f.path, f.line or 0))


def merge_replies(replies: Sequence[ReviewReply], labels: Sequence[str] = ()) -> ReviewReply:
    """One reply from the chunks' replies; ``labels`` name each chunk in the merged summary."""
    if not replies:
        raise ValueError("nothing to merge")
    if len(replies) == 1:
        only = replies[0]
        return ReviewReply(
            summary=only.summary, verdict=implied_verdict(only), findings=sort_findings(only.findings)
        )
    summary = "\n\n".join(
        f"**{labels[i] if i < len(labels) else f'Part {i + 1}'}:** {r.summary}"
        for i, r in enumerate(replies)
    )
    return ReviewReply(
        summary=summary,
        verdict=worst_verdict(implied_verdict(r) for r in replies),
        findings=sort_findings(f for r in replies for f in r.findings),
    )
