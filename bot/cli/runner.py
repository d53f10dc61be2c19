"""What ``model-routing action`` and ``model-routing replay`` share: reading an event from a
payload file, running it through the one dispatcher, and summarising what it did.

Only this module's ``dispatch_once`` builds the dispatcher; both edges call it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.dispatch.events import Event, EventError, parse_event

if TYPE_CHECKING:
    from bot.config import Config
    from bot.dispatch.dispatcher import Outcome
    from bot.settings import Settings


# exit codes of ``model-routing action`` and ``replay``: 0 done (or nothing to do), 1 a job
# failed, 2 the run could not start (missing environment, unreadable payload, bad config)
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class RunError(RuntimeError):
    """Input the run cannot start from; the message says what and where."""


def require_auth(settings: Settings, event: Event) -> None:
    """RunError unless the run can authenticate for ``event`` (checked before any request)."""
    if settings.app_auth:
        if event.installation_id is None:
            raise RunError(
                "GITHUB_APP_ID is set, but the payload names no installation (installation.id); "
                "add it to the payload, or unset the App variables and set GITHUB_TOKEN"
            )
    elif not settings.github_token:
        raise RunError("no GitHub credentials: set GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)")


def load_event(name: str | None, path: str | Path | None, delivery_id: str = "") -> Event:
    """The event in a payload file, or RunError naming the file and the problem."""
    if not name:
        raise RunError("no event name (GITHUB_EVENT_NAME is not set)")
    if not path:
        raise RunError("no payload file (GITHUB_EVENT_PATH is not set)")
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RunError(f"cannot read the payload file {path}: {exc.strerror or exc}") from exc
    try:
        return parse_event(name, raw, delivery_id)
    except EventError as exc:
        raise RunError(f"{path}: {exc}") from exc


def dispatch_once(
    settings: Settings,
    config: Config,
    event: Event,
    *,
    dry_run: bool = False,
    emit: Callable[[str], None] | None = None,
) -> Outcome:
    """Build the dispatcher (the same one the App's workers use) and run one event inline."""
    from bot.work.compose import build_dispatcher

    dispatcher = build_dispatcher(settings, config)
    try:
        return dispatcher.run_once(event, dry_run=dry_run, emit=emit)
    finally:
        dispatcher.ledger.close()


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ").strip()


def heading(event: Event) -> str:
    return f"### Model Routing Bot: `{_cell(event.key)}` on {_cell(event.repo or '?')}"


def result_summary(event: Event, outcome: Outcome, dry_run: bool = False) -> str:
    """Markdown: one row per job (phase, profile, model, why, tokens, cost, link)."""
    lines = [heading(event), ""]
    if not outcome.handled:
        lines.append(f"Nothing to do: {_cell(outcome.reason)}.")
        return "\n".join(lines) + "\n"
    if not outcome.results:
        lines.append("Handled; no job ran (no command, or the conditions were not met).")
    else:
        lines += [
            "| phase | outcome | profile | model | why | tokens in / out | cost | result |",
            "|---|---|---|---|---|---:|---:|---|",
        ]
        for r in outcome.results:
            link = f"[link]({r.url})" if r.url else ""
            outcome_cell = r.outcome if not r.detail else f"{r.outcome}: {r.detail}"
            lines.append(
                f"| {_cell(r.phase)} | {_cell(outcome_cell)} | {_cell(r.profile or '-')} "
                f"| {_cell((r.model and f'`{r.model}`') or '-')} | {_cell(r.reason or '-')} "
                f"| {r.tokens_in:,} / {r.tokens_out:,} | ${r.cost_usd:.4f} | {link} |"
            )
    notes = list(dict.fromkeys(n for r in outcome.results for n in r.notes))
    if notes:
        lines += ["", *(f"> [!NOTE]\n> {n}" for n in notes)]
    if outcome.planned_writes:
        done = "planned, not made (dry run)" if dry_run else "made"
        lines += ["", f"{len(outcome.planned_writes)} write(s) to GitHub {done}."]
    return "\n".join(lines) + "\n"


def describe_error(exc: BaseException) -> str:
    """One line for a job that raised; a GitHub error names the request and GitHub's message."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if response is None or not isinstance(status, int):
        return f"{type(exc).__name__}: {exc}"
    try:
        message = response.json().get("message") or ""
    except Exception:  # noqa: BLE001 - a non-JSON error body: the status says enough
        message = ""
    request = getattr(response, "raw_request", None)
    where = f" on {request.method} {request.url.path}" if request is not None else ""
    return f"GitHub answered {status}{where}" + (f": {message}" if message else "")


def failed(outcome: Outcome) -> bool:
    return any(r.outcome == "failed" for r in outcome.results)
