"""What the security model must answer (a strict, validated shape), what the false-positive
check answers, and which findings are posted.

A finding names a file and a line of its head version, a severity, the CWE it is an instance
of, how it would be exploited, the fix, and how sure the model is. Only vulnerabilities the
model is sure enough of are posted (``triage``): findings below ``security.min_confidence``
and findings the model itself marks as hardening advice are counted in the review, not posted,
so a maintainer sees that they exist without a wall of maybes on the diff.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SecuritySeverity = Literal["critical", "high", "medium", "low"]
SECURITY_SEVERITIES: tuple[SecuritySeverity, ...] = ("critical", "high", "medium", "low")  # worst first
_CWE = re.compile(r"^(?:CWE)?[-_ :]*(\d{1,5})$", re.IGNORECASE)


class SecurityFinding(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    path: str = Field(min_length=1, description="file path as listed in the diff")
    line: int | None = Field(
        default=None, ge=1,
        description="line number in the head (new) version of the file: the number printed at the left of a diff line")
    severity: SecuritySeverity
    cwe: str = Field(description='the CWE the weakness is an instance of, e.g. "CWE-89"')
    title: str = Field(min_length=1, max_length=200, description="the weakness in a few words")
    scenario: str = Field(min_length=1, description="one paragraph: who can exploit it, how, and what they gain")
    fix: str = Field(min_length=1, description="how to fix it, concretely")
    confidence: float = Field(ge=0.0, le=1.0, description="how sure you are that this is exploitable, 0 to 1")
    hardening: bool = Field(
        default=False, description="true when this is defence-in-depth advice rather than an exploitable vulnerability")

    @field_validator("cwe", mode="before")
    @classmethod
    def _cwe(cls, value: object) -> str:
        """"CWE-89", "cwe 89", "89" and 89 are one id: ``CWE-89``."""
        match = _CWE.match(str(value).strip())
        if match is None:
            raise ValueError('must be a CWE id such as "CWE-89"')
        return f"CWE-{int(match.group(1))}"

    @property
    def rank(self) -> int:
        return SECURITY_SEVERITIES.index(self.severity)


class SecurityReply(BaseModel):
    """The security model's whole answer."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    summary: str = Field(description="what the change does to the security of the project, a few sentences")
    findings: list[SecurityFinding] = Field(default_factory=list)


class FindingCheck(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: int = Field(ge=1, description="the number of the finding as listed")
    real: bool = Field(description="false only when the code shown proves the finding wrong")
    reason: str = Field(default="", description="one sentence: why")


class CheckReply(BaseModel):
    """The false-positive check's answer: one verdict per finding it was shown."""

    model_config = ConfigDict(extra="ignore")

    checks: list[FindingCheck] = Field(default_factory=list)


@dataclass
class Triage:
    """The findings split by what happens to them."""

    posted: list[SecurityFinding] = field(default_factory=list)
    low_confidence: list[SecurityFinding] = field(default_factory=list)
    hardening: list[SecurityFinding] = field(default_factory=list)
    dropped: list[tuple[SecurityFinding, str]] = field(default_factory=list)  # by the check, with its reason

    def drop(self, verdicts: dict[int, FindingCheck]) -> None:
        """Take out the posted findings (numbered from 1) the check showed to be false; a
        finding the check said nothing about stays: silence is not a verdict."""
        kept: list[SecurityFinding] = []
        for i, finding in enumerate(self.posted, 1):
            check = verdicts.get(i)
            if check is not None and not check.real:
                self.dropped.append((finding, check.reason or "no reason given"))
            else:
                kept.append(finding)
        self.posted = kept

    def table(self) -> list[dict[str, int | str]]:
        """One row per severity: how many were posted, below the threshold, advice, dropped."""
        columns = {"posted": [f.severity for f in self.posted],
                   "low_confidence": [f.severity for f in self.low_confidence],
                   "hardening": [f.severity for f in self.hardening],
                   "dropped": [f.severity for f, _ in self.dropped]}
        counts = {name: Counter(values) for name, values in columns.items()}
        return [{"severity": s, **{name: counts[name][s] for name in columns}} for s in SECURITY_SEVERITIES]


def sort_findings(findings: Iterable[SecurityFinding]) -> list[SecurityFinding]:
    """Worst first, then by file and line; the same weakness reported twice on a line once."""
    seen: set[tuple[str, int | None, str]] = set()
    unique: list[SecurityFinding] = []
    for f in findings:
        key = (f.path, f.line, f.cwe)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return sorted(unique, key=lambda f: (f.rank, f.path, f.line or 0))


def triage(findings: Sequence[SecurityFinding], min_confidence: float) -> Triage:
    """Advice is counted as advice whatever its confidence; the rest by the threshold."""
    out = Triage()
    for f in sort_findings(findings):
        if f.hardening:
            out.hardening.append(f)
        elif f.confidence < min_confidence:
            out.low_confidence.append(f)
        else:
            out.posted.append(f)
    return out
