"""Issues, issue comments, labels, reactions, collaborator permission and the rate limit.

The App endpoints are in github_routes_apps.py."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.fakes import github_shapes as shapes
from tests.fakes import github_shapes_git as git_shapes
from tests.fakes.github_http import (
    Call,
    HttpError,
    Reply,
    Routes,
    not_found,
    paginate,
    unprocessable,
)
from tests.fakes.github_routes_repo import repo_or_404
from tests.fakes.github_state import LEGACY_PERMISSION, Comment, Issue, Label, Reaction, Repo, State, now_iso

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend


def issue_or_404(state: State, call: Call) -> tuple[Repo, Issue]:
    repo = repo_or_404(state, call)
    issue = repo.issues.get(int(call.params["issue_number"]))
    if issue is None:
        raise not_found()
    return repo, issue


def comment_or_404(state: State, call: Call) -> tuple[Repo, Comment]:
    repo = repo_or_404(state, call)
    found = state.comments.get(int(call.params["comment_id"]))
    if found is None or found.repo.lower() != repo.full_name.lower():
        raise not_found()
    return repo, found


def ensure_label(state: State, repo: Repo, name: str) -> Label:
    """Adding an unknown label to an issue creates it, as GitHub does."""
    key = name.lower()
    if key not in repo.labels:
        repo.labels[key] = Label(state.new_id(), name)
    return repo.labels[key]


def _label_names(raw: Any) -> list[str]:
    items = raw.get("labels", []) if isinstance(raw, dict) else raw
    if isinstance(items, str):
        items = [items]
    names = []
    for item in items or []:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise unprocessable("Label name is invalid", resource="Label", field="name")
        names.append(name)
    return names


def new_issue(state: State, repo: Repo, title: str, body: str | None, login: str,
              labels: list[str]) -> Issue:
    """Open an issue as GitHub does (labels created on first use); shared by the API and the
    seeding helpers."""
    stamp = now_iso()
    issue = Issue(repo.next_number(), state.new_id(), title, body, state.user(login), stamp, stamp)
    issue.labels = [ensure_label(state, repo, n).name for n in labels]
    repo.issues[issue.number] = issue
    return issue


def new_comment(state: State, repo: Repo, issue: Issue, text: str, login: str) -> Comment:
    """Add a comment to an issue; shared by the API and the seeding helpers."""
    stamp = now_iso()
    comment = Comment(state.new_id(), repo.full_name, issue.number, text, state.user(login), stamp, stamp)
    state.comments[comment.id] = comment
    issue.comment_ids.append(comment.id)
    return comment


def create_issue(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    title = call.field("title")
    if not isinstance(title, (str, int)) or not str(title).strip():
        raise unprocessable("Validation Failed", resource="Issue", field="title",
                            code="missing_field")
    issue = new_issue(b.state, repo, str(title), call.field("body"), call.login or "ghost",
                      _label_names(call.body))
    body = shapes.issue(call.base_url, b.state, repo, issue)
    return Reply(201, body, {"location": body["url"]})


def get_issue(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    return Reply(200, shapes.issue(call.base_url, b.state, repo, issue))


def update_issue(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    if call.field("title") is not None:
        issue.title = str(call.field("title"))
    if isinstance(call.body, dict) and "body" in call.body:
        issue.body = call.body["body"]
    state = call.field("state")
    if state in ("open", "closed") and state != issue.state:
        issue.state = state
        issue.closed_at = now_iso() if state == "closed" else None
        default_reason = "completed" if state == "closed" else "reopened"
        issue.state_reason = call.field("state_reason") or default_reason
    if isinstance(call.body, dict) and "labels" in call.body:
        issue.labels = [ensure_label(b.state, repo, n).name for n in _label_names(call.body)]
    if isinstance(call.field("assignees"), list):
        issue.assignees = list(call.field("assignees"))
    issue.updated_at = now_iso()
    return Reply(200, shapes.issue(call.base_url, b.state, repo, issue))


def list_comments(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    since = call.query.get("since")
    found = [b.state.comments[i] for i in issue.comment_ids]
    if since:
        found = [c for c in found if c.updated_at >= since]
    return paginate(call, found, lambda c: shapes.comment(call.base_url, b.state, repo, c))


def create_comment(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    text = call.field("body")
    if not isinstance(text, str) or not text:
        raise unprocessable("Body cannot be blank", resource="IssueComment", field="body",
                            code="missing_field")
    if issue.locked and b.state.role(repo, call.login or "") not in ("admin", "maintain",
                                                                      "write"):
        raise HttpError(403, shapes.error("Unable to create comment because issue is "
                                          "locked.", 403))
    comment = new_comment(b.state, repo, issue, text, call.login or "ghost")
    body = shapes.comment(call.base_url, b.state, repo, comment)
    return Reply(201, body, {"location": body["url"]})


def get_comment(b: Backend, call: Call) -> Reply:
    repo, comment = comment_or_404(b.state, call)
    return Reply(200, shapes.comment(call.base_url, b.state, repo, comment))


def update_comment(b: Backend, call: Call) -> Reply:
    repo, comment = comment_or_404(b.state, call)
    text = call.field("body")
    if not isinstance(text, str) or not text:
        raise unprocessable("Body cannot be blank", resource="IssueComment", field="body",
                            code="missing_field")
    comment.body, comment.updated_at = text, now_iso()
    return Reply(200, shapes.comment(call.base_url, b.state, repo, comment))


def delete_comment(b: Backend, call: Call) -> Reply:
    repo, comment = comment_or_404(b.state, call)
    del b.state.comments[comment.id]
    repo.issues[comment.issue_number].comment_ids.remove(comment.id)
    return Reply(204)


def _labels_reply(call: Call, repo: Repo, issue: Issue) -> Reply:
    return Reply(200, [shapes.label(call.base_url, repo.full_name, repo.labels[n.lower()])
                       for n in issue.labels])


def list_labels(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    return paginate(call, [repo.labels[n.lower()] for n in issue.labels],
                    lambda lab: shapes.label(call.base_url, repo.full_name, lab))


def add_labels(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    for name in _label_names(call.body):
        label = ensure_label(b.state, repo, name)
        if label.name.lower() not in (n.lower() for n in issue.labels):
            issue.labels.append(label.name)
    issue.updated_at = now_iso()
    return _labels_reply(call, repo, issue)


def set_labels(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    issue.labels = [ensure_label(b.state, repo, n).name for n in _label_names(call.body)]
    return _labels_reply(call, repo, issue)


def remove_label(b: Backend, call: Call) -> Reply:
    repo, issue = issue_or_404(b.state, call)
    name = call.params["name"].lower()
    if name not in (n.lower() for n in issue.labels):
        raise HttpError(404, shapes.error("Label does not exist", 404))
    issue.labels = [n for n in issue.labels if n.lower() != name]
    return _labels_reply(call, repo, issue)


def create_reaction(b: Backend, call: Call) -> Reply:
    _, comment = comment_or_404(b.state, call)
    content = call.field("content")
    for existing in comment.reactions:
        if existing.content == content and existing.user.login == call.login:
            return Reply(200, shapes.reaction(call.base_url, existing))
    reaction = Reaction(b.state.new_id(), str(content), b.state.user(call.login or "ghost"),
                        now_iso())
    comment.reactions.append(reaction)
    return Reply(201, shapes.reaction(call.base_url, reaction))


def list_reactions(b: Backend, call: Call) -> Reply:
    _, comment = comment_or_404(b.state, call)
    wanted = call.query.get("content")
    found = [r for r in comment.reactions if wanted in (None, r.content)]
    return paginate(call, found, lambda r: shapes.reaction(call.base_url, r))


def get_permission(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    login = call.params["username"]
    role = b.state.role(repo, login)
    return Reply(200, git_shapes.permission(call.base_url, b.state, repo, login,
                                            LEGACY_PERMISSION[role], role))


def rate_limit(b: Backend, call: Call) -> Reply:
    core = {"limit": 5000, "remaining": b.rate_remaining, "used": 5000 - b.rate_remaining,
            "reset": int(time.time()) + 3600}
    search = {"limit": 30, "remaining": 30, "used": 0, "reset": int(time.time()) + 60}
    return Reply(200, {"resources": {"core": core, "search": search, "graphql": core},
                       "rate": core})


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}"
    routes.add("POST", base + "/issues", create_issue)
    routes.add("GET", base + "/issues/{issue_number}", get_issue)
    routes.add("PATCH", base + "/issues/{issue_number}", update_issue)
    routes.add("GET", base + "/issues/{issue_number}/comments", list_comments)
    routes.add("POST", base + "/issues/{issue_number}/comments", create_comment)
    routes.add("GET", base + "/issues/comments/{comment_id}", get_comment)
    routes.add("PATCH", base + "/issues/comments/{comment_id}", update_comment)
    routes.add("DELETE", base + "/issues/comments/{comment_id}", delete_comment)
    routes.add("GET", base + "/issues/{issue_number}/labels", list_labels)
    routes.add("POST", base + "/issues/{issue_number}/labels", add_labels)
    routes.add("PUT", base + "/issues/{issue_number}/labels", set_labels)
    routes.add("DELETE", base + "/issues/{issue_number}/labels/{name}", remove_label)
    routes.add("POST", base + "/issues/comments/{comment_id}/reactions", create_reaction)
    routes.add("GET", base + "/issues/comments/{comment_id}/reactions", list_reactions)
    routes.add("GET", base + "/collaborators/{username}/permission", get_permission)
    routes.add("GET", "/rate_limit", rate_limit)
