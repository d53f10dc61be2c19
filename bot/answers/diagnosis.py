"""What the debugging model answers about a red CI run: a structured, validated diagnosis.

The reasoning model reads the failing checks, their annotations and cut job logs, the change and
the files the failure points at, and answers a ``Diagnosis``: the root cause, the evidence lines
it rests on (quoted from the logs), the files involved and a fix plan. On the bot's own branch
the plan goes to the implementation model, which turns it into an edit plan; on anyone's pull
request (``/debug``) ``suggestions`` that land on lines of the diff become GitHub suggestion
blocks. Nothing in a diagnosis is trusted beyond that: paths are checked again by the edit
guards, and the branch written is never the model's choice.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

EVIDENCE_LINES = 12
FIX_STEPS = 12
SUGGESTIONS = 10


class FixStep(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    path: str = Field(min_length=1, description="the file to change, relative to the repository root")
    change: str = Field(min_length=1, description="what to change there, and why it fixes the failure")


class Suggestion(BaseModel):
    """Replacement text for lines of the pull request's head: a GitHub suggestion block."""

    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1, description="file path as listed in the diff")
    start_line: int = Field(ge=1, description="first line replaced, in the head version of the file")
    end_line: int = Field(ge=1, description="last line replaced (the same as start_line for one line)")
    replacement: str = Field(description="the new text of those lines, exactly as it should read")

    @model_validator(mode="after")
    def _ordered(self) -> Suggestion:
        if self.end_line < self.start_line:
            raise ValueError("end_line must not be before start_line")
        return self


class Diagnosis(BaseModel):
    """The debugging model's whole answer."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    summary: str = Field(min_length=1, description="one sentence: what fails")
    root_cause: str = Field(min_length=1, description="why it fails, in a few sentences, naming the faulty code")
    evidence: list[str] = Field(default_factory=list,
                                description="the log or annotation lines that show it, each copied exactly")
    files: list[str] = Field(default_factory=list, description="repository files involved in the failure")
    fix_plan: list[FixStep] = Field(default_factory=list, description="the changes that fix it, in order")
    fixable: bool = Field(default=True, description=(
        "false when the fix lies outside the repository's code: CI configuration or workflows, "
        "secrets, infrastructure, a flaky external service"))
    suggestions: list[Suggestion] = Field(default_factory=list, description=(
        "for changes that replace a few lines of the head version: the exact new text"))

    def trimmed(self) -> Diagnosis:
        """At most a screenful of each list (the model may be generous)."""
        return self.model_copy(update={
            "evidence": self.evidence[:EVIDENCE_LINES], "fix_plan": self.fix_plan[:FIX_STEPS],
            "suggestions": self.suggestions[:SUGGESTIONS], "files": list(dict.fromkeys(self.files))[:FIX_STEPS],
        })

    def paths(self) -> list[str]:
        """Every file the diagnosis names, in order, each once."""
        return list(dict.fromkeys([*self.files, *(s.path for s in self.fix_plan), *(s.path for s in self.suggestions)]))
