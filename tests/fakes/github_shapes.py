"""JSON bodies in GitHub's shapes, with every field the official description requires.

Kept apart from the routes so each builder can be checked against the OpenAPI schema of the
same name (tests/test_conformance.py) and parsed by githubkit's models.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes.github_state import (
    Comment,
    Issue,
    Label,
    Pull,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    State,
    User,
)

WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"
Json = dict[str, Any]


def node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kwDO{base64.b64encode(str(number).encode()).decode().rstrip('=')}"


def user(api: str, u: User) -> Json:
    url = f"{api}/users/{u.login}"
    return {
        "login": u.login, "id": u.id, "node_id": node_id("U", u.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{u.id}?v=4",
        "gravatar_id": "", "url": url, "html_url": f"{WEB}/{u.login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": u.type, "site_admin": False, "user_view_type": "public",
    }


def repository(api: str, state: State, r: Repo) -> Json:
    """A full-repository body; its fields are a superset of "repository"."""
    url = f"{api}/repos/{r.full_name}"
    html = f"{WEB}/{r.full_name}"
    open_issues = sum(1 for i in r.issues.values() if i.state == "open")
    templated = {
        "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
        "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
        "collaborators_url": "/collaborators{/collaborator}",
        "comments_url": "/comments{/number}", "commits_url": "/commits{/sha}",
        "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
        "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
        "git_tags_url": "/git/tags{/sha}", "issue_comment_url": "/issues/comments{/number}",
        "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
        "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
        "milestones_url": "/milestones{/number}",
        "notifications_url": "/notifications{?since,all,participating}",
        "pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}",
        "statuses_url": "/statuses/{sha}", "trees_url": "/git/trees{/sha}",
    }
    plain = ("contributors", "deployments", "downloads", "events", "forks", "hooks",
             "languages", "merges", "stargazers", "subscribers", "subscription", "tags",
             "teams")
    body: Json = {
        "id": r.id, "node_id": node_id("R", r.id), "name": r.name, "full_name": r.full_name,
        "owner": user(api, r.owner), "private": r.private, "html_url": html,
        "description": r.description, "fork": r.fork, "url": url,
        **{key: url + suffix for key, suffix in templated.items()},
        **{f"{name}_url": f"{url}/{name}" for name in plain},
        "git_url": f"git://github.com/{r.full_name}.git",
        "ssh_url": f"git@github.com:{r.full_name}.git", "clone_url": f"{html}.git",
        "svn_url": html, "mirror_url": None, "homepage": None, "language": None,
        "forks_count": 0, "forks": 0, "stargazers_count": 0, "watchers_count": 0,
        "watchers": 0, "size": len(state.store.blobs), "default_branch": r.default_branch,
        "open_issues_count": open_issues, "open_issues": open_issues, "is_template": False,
        "topics": [], "has_issues": True, "has_projects": True, "has_wiki": True,
        "has_pages": False, "has_downloads": True, "has_discussions": False,
        "archived": False, "disabled": False,
        "visibility": "private" if r.private else "public",
        "pushed_at": r.pushed_at or r.created_at, "created_at": r.created_at,
        "updated_at": r.pushed_at or r.created_at, "allow_forking": True,
        "web_commit_signoff_required": False, "license": None,
        # no temp_clone_token: only admins see it, and "repository" types it a non-null string
        "network_count": 0, "subscribers_count": 0,
    }
    if r.parent and (parent := state.repo(r.parent)):
        body["parent"] = body["source"] = repository(api, state, parent)
    return body


def label(api: str, repo: str, lab: Label) -> Json:
    return {
        "id": lab.id, "node_id": node_id("LA", lab.id),
        "url": f"{api}/repos/{repo}/labels/{lab.name}", "name": lab.name,
        "description": lab.description, "color": lab.color, "default": False,
        # newer descriptions (and githubkit's models) require these two
        "archived_at": None, "archived_by": None,
    }


def reactions_rollup(url: str, reactions: list[Reaction]) -> Json:
    names = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
    counts = {n: sum(1 for r in reactions if r.content == n) for n in names}
    return {"url": f"{url}/reactions", "total_count": len(reactions), **counts}


def association(state: State, r: Repo, login: str) -> str:
    if login.lower() == r.owner.login.lower():
        return "OWNER"
    if state.role(r, login) in ("admin", "maintain", "write", "triage"):
        return "COLLABORATOR"
    return "NONE"


def issue(api: str, state: State, r: Repo, i: Issue) -> Json:
    url = f"{api}/repos/{r.full_name}/issues/{i.number}"
    kind = "pull" if i.is_pull else "issues"
    body: Json = {
        "id": i.id, "node_id": node_id("I", i.id), "url": url,
        "repository_url": f"{api}/repos/{r.full_name}",
        "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
        "events_url": f"{url}/events", "html_url": f"{WEB}/{r.full_name}/{kind}/{i.number}",
        "number": i.number, "state": i.state, "state_reason": i.state_reason,
        "title": i.title, "body": i.body, "user": user(api, i.user),
        "labels": [label(api, r.full_name, r.labels[n.lower()]) for n in i.labels],
        "assignee": user(api, state.user(i.assignees[0])) if i.assignees else None,
        "assignees": [user(api, state.user(a)) for a in i.assignees],
        "milestone": None, "locked": i.locked, "active_lock_reason": None,
        "comments": len(i.comment_ids), "closed_at": i.closed_at,
        "created_at": i.created_at, "updated_at": i.updated_at, "closed_by": None,
        "author_association": association(state, r, i.user.login),
        "reactions": reactions_rollup(url, []), "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
    }
    if i.is_pull:
        pulls = f"{api}/repos/{r.full_name}/pulls/{i.number}"
        html = f"{WEB}/{r.full_name}/pull/{i.number}"
        merged_at = i.closed_at if r.pulls[i.number].merged else None
        body["pull_request"] = {"url": pulls, "html_url": html, "diff_url": f"{html}.diff",
                                "patch_url": f"{html}.patch", "merged_at": merged_at}
        body["draft"] = r.pulls[i.number].draft
    return body


def comment(api: str, state: State, r: Repo, c: Comment) -> Json:
    url = f"{api}/repos/{r.full_name}/issues/comments/{c.id}"
    issue_obj = r.issues[c.issue_number]
    kind = "pull" if issue_obj.is_pull else "issues"
    return {
        "id": c.id, "node_id": node_id("IC", c.id), "url": url, "body": c.body,
        "html_url": f"{WEB}/{r.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
        "user": user(api, c.user), "created_at": c.created_at, "updated_at": c.updated_at,
        "issue_url": f"{api}/repos/{r.full_name}/issues/{c.issue_number}",
        "author_association": association(state, r, c.user.login),
        "performed_via_github_app": None, "reactions": reactions_rollup(url, c.reactions),
    }


def reaction(api: str, x: Reaction) -> Json:
    return {"id": x.id, "node_id": node_id("REA", x.id), "user": user(api, x.user),
            "content": x.content, "created_at": x.created_at}


def _links(api: str, r: Repo, number: int, head_sha: str) -> Json:
    url = f"{api}/repos/{r.full_name}/pulls/{number}"
    issue_url = f"{api}/repos/{r.full_name}/issues/{number}"
    return {
        "self": {"href": url}, "html": {"href": f"{WEB}/{r.full_name}/pull/{number}"},
        "issue": {"href": issue_url}, "comments": {"href": f"{issue_url}/comments"},
        "review_comments": {"href": f"{url}/comments"},
        "review_comment": {"href": f"{api}/repos/{r.full_name}/pulls/comments{{/number}}"},
        "commits": {"href": f"{url}/commits"},
        "statuses": {"href": f"{api}/repos/{r.full_name}/statuses/{head_sha}"},
    }


def pull_simple(api: str, state: State, r: Repo, p: Pull) -> Json:
    """The list shape (pull-request-simple); `pull_request` adds the counts."""
    i = r.issues[p.number]
    base_sha, head_sha = state.pull_shas(r, p)
    head_repo = state.repo(p.head_repo) or r
    url = f"{api}/repos/{r.full_name}/pulls/{p.number}"
    html = f"{WEB}/{r.full_name}/pull/{p.number}"
    base = issue(api, state, r, i)
    return {
        "url": url, "id": p.id, "node_id": node_id("PR", p.id), "html_url": html,
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": base["url"],
        "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api}/repos/{r.full_name}/pulls/comments{{/number}}",
        "comments_url": base["comments_url"],
        "statuses_url": f"{api}/repos/{r.full_name}/statuses/{head_sha}",
        "number": p.number, "state": i.state, "locked": i.locked, "title": i.title,
        "user": base["user"], "body": i.body, "labels": base["labels"], "milestone": None,
        "active_lock_reason": None, "created_at": i.created_at, "updated_at": i.updated_at,
        "closed_at": i.closed_at, "merged_at": i.closed_at if p.merged else None,
        "merge_commit_sha": p.merge_commit_sha, "assignee": base["assignee"],
        "assignees": base["assignees"],
        "requested_reviewers": [], "requested_teams": [],
        "head": {"label": f"{head_repo.owner.login}:{p.head_ref}", "ref": p.head_ref,
                 "sha": head_sha, "user": user(api, head_repo.owner),
                 "repo": repository(api, state, head_repo)},
        "base": {"label": f"{r.owner.login}:{p.base_ref}", "ref": p.base_ref,
                 "sha": base_sha, "user": user(api, r.owner),
                 "repo": repository(api, state, r)},
        "_links": _links(api, r, p.number, head_sha),
        "author_association": base["author_association"], "auto_merge": None,
        "draft": p.draft,
    }


def pull_request(api: str, state: State, r: Repo, p: Pull) -> Json:
    body = pull_simple(api, state, r, p)
    base_sha, head_sha = body["base"]["sha"], body["head"]["sha"]
    diffs = state.diff(base_sha, head_sha) if base_sha and head_sha else []
    merge_base = state.store.merge_base(base_sha, head_sha) if diffs else None
    commits = state.store.commits_between(merge_base, head_sha) if merge_base else []
    review_comments = sum(len(state.reviews[x].comments) for x in p.review_ids)
    body.update({
        "merged": p.merged, "mergeable": None, "rebaseable": None,
        "mergeable_state": "unknown",
        "merged_by": user(api, state.user(p.merged_by)) if p.merged_by else None,
        "comments": len(r.issues[p.number].comment_ids), "review_comments": review_comments,
        "maintainer_can_modify": p.maintainer_can_modify, "commits": len(commits),
        "additions": sum(d.additions for d in diffs),
        "deletions": sum(d.deletions for d in diffs), "changed_files": len(diffs),
    })
    return body


def review(api: str, state: State, r: Repo, v: Review) -> Json:
    pull_url = f"{api}/repos/{r.full_name}/pulls/{v.pull_number}"
    html = f"{WEB}/{r.full_name}/pull/{v.pull_number}#pullrequestreview-{v.id}"
    body: Json = {
        "id": v.id, "node_id": node_id("PRR", v.id), "user": user(api, v.user),
        "body": v.body, "state": v.state, "html_url": html, "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": v.commit_id, "author_association": association(state, r, v.user.login),
    }
    if v.submitted_at:
        body["submitted_at"] = v.submitted_at
    return body


def review_comment(api: str, state: State, r: Repo, v: Review, c: ReviewComment,
                   diff_hunk: str) -> Json:
    url = f"{api}/repos/{r.full_name}/pulls/comments/{c.id}"
    pull_url = f"{api}/repos/{r.full_name}/pulls/{v.pull_number}"
    html = f"{WEB}/{r.full_name}/pull/{v.pull_number}#discussion_r{c.id}"
    body: Json = {
        "url": url, "pull_request_review_id": v.id, "id": c.id,
        "node_id": node_id("PRRC", c.id), "diff_hunk": diff_hunk, "path": c.path,
        "commit_id": c.commit_id,
        "original_commit_id": c.commit_id, "user": user(api, c.user), "body": c.body,
        "created_at": c.created_at, "updated_at": c.created_at, "html_url": html,
        "pull_request_url": pull_url,
        "author_association": association(state, r, c.user.login),
        "_links": {"self": {"href": url}, "html": {"href": html},
                   "pull_request": {"href": pull_url}},
        "start_line": c.start_line, "original_start_line": c.start_line,
        "start_side": c.start_side, "line": c.line, "original_line": c.line,
        "side": c.side or "RIGHT", "subject_type": "line" if c.line else "file",
        "reactions": reactions_rollup(url, []),
    }
    if c.position is not None:  # an integer in the description: absent, not null, if unknown
        body["position"] = body["original_position"] = c.position
    return body


def error(message: str, status: int, docs: str = DOCS) -> Json:
    return {"message": message, "documentation_url": docs, "status": str(status)}


def validation_failed(errors: list[Json], message: str = "Validation Failed") -> Json:
    return {"message": message, "errors": errors, "documentation_url": DOCS, "status": "422"}
