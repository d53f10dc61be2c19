"""The GitHub App manifest: the one place that says what the bot asks GitHub for.

The setup page (``bot.edge.setup``) posts it to GitHub's App manifest flow, and ``app.yml`` at
the top of the checkout shows the same data for people who register the App by hand
(``python -m bot.manifest > app.yml`` writes it; tests/test_manifest.py checks the two agree, that
every event a handler is registered for is subscribed to, and that every permission is used).

Why each permission and event is here is part of the data: the setup page shows it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

NAME = "Model Routing Bot"
NAME_MAX = 34  # GitHub refuses longer App names
DESCRIPTION = (
    "Routes each phase of software work to the class of model that fits it: specs from a "
    "high-reasoning model, draft PRs from a high-throughput model, reviews of large PRs from a "
    "massive-context model. Never merges, never approves."
)
# where GitHub sends the browser, relative to the server's public URL
WEBHOOK_PATH = "/webhook"
CALLBACK_PATH = "/setup/callback"  # redirect_url: the code is traded for the credentials here
INSTALLED_PATH = "/installed"  # setup_url: where GitHub sends the user after an installation


@dataclass(frozen=True)
class Permission:
    level: str  # read | write
    why: str


# permission -> level and what needs it. tests/test_manifest.py maps every REST path the code
# calls to one of these; a permission nothing calls fails it.
PERMISSIONS: dict[str, Permission] = {
    "contents": Permission("write", "read files and history for context; write blobs, trees, "
                                    "commits and the bot's own branches (model-routing/*)"),
    "issues": Permission("write", "read issues and comments; post specs and replies to commands"),
    "pull_requests": Permission("write", "open draft pull requests; post COMMENT reviews "
                                         "(never approve, never merge)"),
    "metadata": Permission("read", "repository basics, and who may trigger the bot "
                                   "(collaborators' permission)"),
    "checks": Permission("read", "read failing check runs and their annotations to debug CI"),
    "actions": Permission("read", "read workflow runs and job logs to debug CI"),
    "security_events": Permission("write", "upload security findings to code scanning (SARIF)"),
}

# event -> what the bot does with it. Every event a handler is registered for must be here.
EVENTS: dict[str, str] = {
    "issues": "a label asks for a spec (design) or approves one (spec-approved)",
    "issue_comment": "slash commands: /spec, /approve, /review, /security, /debug, /ask, /stats, /help ...",
    "pull_request": "review large pull requests when opened, marked ready or pushed to; record merges",
    "pull_request_review": "record the findings of the bot's own reviews (outcomes per model)",
    "check_suite": "a failed CI run on the bot's branch: diagnose it and push a fix; record CI results",
    "workflow_run": "a failed Actions run on the bot's branch: diagnose it and push a fix; record CI results",
}


def manifest(webhook_url: str, server_url: str, *, name: str = NAME) -> dict[str, Any]:
    """The manifest for a server that GitHub delivers webhooks to at ``webhook_url`` (its public
    URL + /webhook, or a forwarding service's) and that the browser doing the setup reaches at
    ``server_url``: GitHub sends that browser back there with the code, and after installing."""
    base = server_url.rstrip("/")
    return {
        "name": name,
        "url": base,
        "description": DESCRIPTION,
        "hook_attributes": {"url": webhook_url, "active": True},
        "redirect_url": base + CALLBACK_PATH,
        "setup_url": base + INSTALLED_PATH,
        "public": False,
        "default_permissions": {name: p.level for name, p in PERMISSIONS.items()},
        "default_events": list(EVENTS),
    }


def app_yml(server_url: str = "https://routing.example.com") -> str:
    """``app.yml``: the manifest as YAML, with why each permission and event is asked for."""
    m = manifest(server_url + WEBHOOK_PATH, server_url)
    lines = [
        f"# GitHub App manifest for {NAME}, generated from bot/manifest.py",
        "# (python -m bot.manifest > app.yml). The easy way to use it: start `model-routing serve`",
        "# and open http://127.0.0.1:3000, whose setup page posts it to GitHub. By hand: create an",
        f"# App with these settings, {server_url} replaced by your server's public URL,",
        "# then set GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_WEBHOOK_SECRET for the server.",
        f"name: {m['name']}",
        f"url: {m['url']}",
        "description: >-",
        *_folded(m["description"], "  "),
        "hook_attributes:",
        f"  url: {m['hook_attributes']['url']}",
        "  active: true",
        f"redirect_url: {m['redirect_url']}   # the setup page's callback",
        f"setup_url: {m['setup_url']}           # after an installation",
        "public: false",
        "default_permissions:",
        *(f"  {name}: {p.level}".ljust(28) + f"# {p.why}" for name, p in PERMISSIONS.items()),
        "default_events:",
        *(f"  - {event}".ljust(28) + f"# {why}" for event, why in EVENTS.items()),
    ]
    return "\n".join(lines) + "\n"


def _folded(text: str, indent: str, width: int = 96) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(indent) + len(line) + 1 + len(word) > width:
            out.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*out, indent + line] if line else out


if __name__ == "__main__":
    sys.stdout.write(app_yml())
