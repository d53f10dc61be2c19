"""What can stop a model call, and what each means to the people reading the bot's post.

Every phase reports a failure with the same words (``explain``): one table, next to the
errors, so a new error kind is worded once and every phase says it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import ConfigError

__all__ = ["AllModelsFailed", "BudgetExceeded", "Failure", "InvalidOutput", "ModelError", "NoModelFits",
           "explain"]


class ModelError(RuntimeError):
    """Base of every failure a handler reports."""


class AllModelsFailed(ModelError):
    """Every model of the profile that can hold the prompt failed (the attempts are listed)."""


class BudgetExceeded(ModelError):
    """The monthly or per-job budget would be passed: no call was made."""


class NoModelFits(ModelError):
    """The prompt is bigger than every configured window."""


class InvalidOutput(ModelError):
    """The structured answer was still invalid after one repair request."""


@dataclass(frozen=True)
class Failure:
    what: str  # what happened, in words for the readers of the issue or pull request
    fix: str  # what to do before trying again


def explain(exc: BaseException, profile: str, *, prompt: str = "The prompt", answer: str = "the expected format") -> Failure:
    """The words for a job that a model error (or an invalid repository config) stopped.
    ``prompt`` names what the model was to read, ``answer`` the shape it had to answer in."""
    if isinstance(exc, AllModelsFailed):
        return Failure(f"Every model of the `{profile}` profile failed to answer.",
                       "The providers may be down or rate-limited; wait a few minutes.")
    if isinstance(exc, BudgetExceeded):
        return Failure("The model budget for this repository is spent, so no model was called.",
                       "Ask the operator to raise `budgets` in the bot's configuration, or wait for the next month.")
    if isinstance(exc, NoModelFits):
        return Failure(f"{prompt} is larger than every configured model's window, so no model was called.",
                       "Make it smaller, or ask the operator to configure a model with a larger window.")
    if isinstance(exc, ConfigError):
        return Failure("The repository's configuration (`.github/model-routing.yml`) is invalid, so no model was called.",
                       "Fix the configuration on the default branch (the details say what is wrong).")
    return Failure(f"The model's answer did not fit {answer}, even after one repair request.",
                   "This is usually a passing problem with the model.")
