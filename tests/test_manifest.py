"""The App manifest (bot/manifest.py) asks GitHub for what the code needs, and no more.

Events: every event a handler is registered for (``handlers.router``) is subscribed to.

Permissions, and the rule for "the code uses it": every REST path the bot's code names (string
and f-string literals in bot/ and handlers/ that start with ``/repos/`` or ``/app``, read from
the source) is mapped to the permission GitHub requires for it (PATH_PERMISSIONS below, after
GitHub's "Permissions required for GitHub Apps"); a path sent with POST, PATCH, PUT or DELETE
needs write, any other read. The manifest must grant every permission so found at that level or
above, and may grant nothing beyond it: no permission nothing calls, no write where reads do.

Permissions and events that other work of this round brings (COMING) are in the manifest before
their code is; each such entry must still be unused, so the day its code lands this test fails
until the entry is deleted here, and the rule above takes over.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from bot.manifest import EVENTS, PERMISSIONS, app_yml, manifest
from handlers import router
from tests.fakes.github_manifest import EVENT_PERMISSIONS, GLOBAL_EVENTS
from tests.fakes.github_manifest import EVENTS as WEBHOOK_EVENTS

ROOT = Path(__file__).resolve().parent.parent
WRITES = ("POST", "PATCH", "PUT", "DELETE")
LEVEL = {"read": 1, "write": 2}
# path template ({} for each value put in) -> the permission it needs; None: none (the manifest
# conversion). Regular expressions over the template, the first full match wins: checks under
# /commits before contents.
PATH_PERMISSIONS: list[tuple[str, str | None]] = [
    (r"/repos/\{\}/commits/\{\}/(check-runs|check-suites)", "checks"),
    (r"/repos/\{\}/(check-runs|check-suites)(/.*)?", "checks"),
    (r"/repos/\{\}/actions/.*", "actions"),
    (r"/repos/\{\}/code-scanning/.*", "security_events"),
    (r"/repos/\{\}/issues(/.*)?", "issues"),
    (r"/repos/\{\}/pulls(/.*)?", "pull_requests"),
    (r"/repos/\{\}/(git|contents|readme|commits|compare|branches)(/.*)?", "contents"),
    (r"/repos/\{\}/collaborators/\{\}/permission", "metadata"),
    (r"/repos/\{\}", "metadata"),
    (r"/app-manifests/\{\}/conversions", None),
    (r"/app", None),  # the App itself, with its JWT: the bot's own login (bot/github/identity.py)
]
# brought by other issues of this round; delete an entry once its code is in
COMING_PERMISSIONS: dict[str, str] = {}
COMING_EVENTS: dict[str, str] = {}


def _template(node: ast.expr) -> str | None:
    """The text of a string or f-string literal, with ``{}`` for each value put in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    else:
        return None
    return text if text.startswith(("/repos/", "/app")) else None


def rest_calls(root: Path) -> set[tuple[str, str]]:
    """(method, path template) for every REST path the code names. A path is sent with the
    method named before it in the same call (``writes.request("POST", path, ...)``,
    ``arequest("GET", ...)``), also when it was first put in a variable of that function;
    ``writes.create(path, ...)`` is a POST (one that must not be made twice); a path passed to
    a read helper (``get_json``, ``paginate``...) is a GET."""
    found: set[tuple[str, str]] = set()
    for path in sorted([*(root / "bot").rglob("*.py"), *(root / "handlers").rglob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            names = {t.id: tpl for n in ast.walk(func) if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)
                     if (tpl := _template(n.value)) is not None}
            # the pieces of an f-string are no paths of their own
            sent = {id(v) for n in ast.walk(func) if isinstance(n, ast.JoinedStr) for v in n.values}
            for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                if isinstance(call.func, ast.Attribute) and call.func.attr == "create" and call.args:
                    arg = call.args[0]
                    tpl = _template(arg) or (names.get(arg.id) if isinstance(arg, ast.Name) else None)
                    if tpl:
                        found.add(("POST", tpl))
                        sent.add(id(arg))
                for before, arg in zip(call.args, call.args[1:], strict=False):
                    method = before.value if isinstance(before, ast.Constant) else None
                    tpl = _template(arg) or (names.get(arg.id) if isinstance(arg, ast.Name) else None)
                    if isinstance(method, str) and method in ("GET", *WRITES) and tpl:
                        found.add((method, tpl))
                        sent.add(id(arg))
            for node in ast.walk(func):
                if isinstance(node, ast.expr) and id(node) not in sent and (tpl := _template(node)):
                    found.add(("GET", tpl))
    return found


def permission_for(template: str) -> str | None:
    for pattern, permission in PATH_PERMISSIONS:
        if re.fullmatch(pattern, template):
            return permission
    raise AssertionError(f"{template}: no permission is known for this path; add it to PATH_PERMISSIONS")


def needed(calls: set[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for method, template in calls:
        permission = permission_for(template)
        if permission is not None:
            level = "write" if method in WRITES else "read"
            if LEVEL[level] > LEVEL.get(out.get(permission, ""), 0):
                out[permission] = level
    return out


def test_the_scan_finds_the_paths_the_code_calls_with_their_methods() -> None:
    calls = rest_calls(ROOT)
    # one of each kind, known from the code: a write through a variable, a literal write, reads
    assert ("POST", "/repos/{}/pulls/{}/reviews") in calls  # bot/github/reviews.py: path = f"..."
    assert ("POST", "/repos/{}/issues/{}/comments") in calls
    assert ("GET", "/repos/{}/collaborators/{}/permission") in calls
    assert ("POST", "/app-manifests/{}/conversions") in calls
    assert ("GET", "/repos/{}/pulls/{}/reviews") in calls  # paginate(...)
    assert ("GET", "/repos/{}/pulls/{}") in calls and ("PATCH", "/repos/{}/pulls/{}") in calls


def test_every_permission_the_code_needs_is_granted_and_nothing_more() -> None:
    need = needed(rest_calls(ROOT))
    granted = {name: p.level for name, p in PERMISSIONS.items()}
    short = {p: lvl for p, lvl in need.items() if LEVEL[lvl] > LEVEL.get(granted.get(p, ""), 0)}
    assert not short, f"the code calls paths that need {short}; add them to bot/manifest.py"
    unused = {p: lvl for p, lvl in granted.items() if p not in need and p not in COMING_PERMISSIONS}
    assert not unused, f"the manifest grants {unused}, which no REST call of the code needs"
    too_much = {p: (lvl, need[p]) for p, lvl in granted.items() if p in need and LEVEL[lvl] > LEVEL[need[p]]}
    assert not too_much, f"(granted, needed): {too_much}"
    landed = {p: why for p, why in COMING_PERMISSIONS.items() if p in need}
    assert not landed, f"the code uses {landed} now: delete them from COMING_PERMISSIONS"
    assert set(COMING_PERMISSIONS) <= set(granted)


def test_the_rule_fails_on_a_permission_nothing_uses_and_on_a_missing_one(tmp_path: Path) -> None:
    """The check can fail: a tree whose code only reads issues needs issues: read, nothing else."""
    (tmp_path / "bot").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "bot" / "reads.py").write_text(
        "async def f(gh, repo, n):\n    return await get_json(gh, f'/repos/{repo}/issues/{n}')\n")
    assert needed(rest_calls(tmp_path)) == {"issues": "read"}
    (tmp_path / "handlers" / "w.py").write_text(
        "async def g(s, repo):\n    path = f'/repos/{repo}/check-runs'\n    await s.request('POST', path, {})\n")
    assert needed(rest_calls(tmp_path)) == {"issues": "read", "checks": "write"}


def test_every_handled_event_is_subscribed_and_every_subscription_is_handled() -> None:
    # webhook events only: GitHub sends the global ones to every App unasked, and the Action's
    # triggers that are no webhooks (pull_request_target) reach the App as their webhook twin
    handled = (router.events() - GLOBAL_EVENTS) & WEBHOOK_EVENTS
    assert {"issues", "issue_comment", "pull_request"} <= handled
    assert handled <= set(EVENTS), f"handled but not in the manifest: {handled - set(EVENTS)}"
    unhandled = set(EVENTS) - handled
    assert unhandled <= set(COMING_EVENTS), f"subscribed, never handled: {unhandled - set(COMING_EVENTS)}"
    landed = set(COMING_EVENTS) & handled
    assert not landed, f"handled now: delete {landed} from COMING_EVENTS"
    # GitHub sends an event only to Apps with one of its permissions
    for event in EVENTS:
        assert any(p in PERMISSIONS for p in EVENT_PERMISSIONS.get(event, ("metadata",))), event


def test_the_manifest_points_github_at_this_server_and_keeps_the_app_private() -> None:
    body = manifest("https://hooks.example.com/abc", "https://routing.example.com/")
    assert body["hook_attributes"] == {"url": "https://hooks.example.com/abc", "active": True}
    assert body["redirect_url"] == "https://routing.example.com/setup/callback"
    assert body["setup_url"] == "https://routing.example.com/installed"
    assert body["url"] == "https://routing.example.com" and body["public"] is False
    assert body["default_permissions"] == {name: p.level for name, p in PERMISSIONS.items()}
    assert body["default_events"] == list(EVENTS)


def test_app_yml_is_the_manifest_the_code_holds() -> None:
    shipped = yaml.safe_load((ROOT / "app.yml").read_text())
    assert shipped == yaml.safe_load(app_yml()), \
        "app.yml differs from bot/manifest.py: run `python -m bot.manifest > app.yml`"
    assert shipped == manifest("https://routing.example.com/webhook", "https://routing.example.com")
