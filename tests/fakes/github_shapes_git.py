"""JSON bodies for git data, contents, PR files and the App endpoints, in GitHub's shapes."""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes.github_diff import FileDiff
from tests.fakes.github_git import Commit, FlatEntry, GitStore, TreeEntry
from tests.fakes.github_shapes import WEB, node_id, user
from tests.fakes.github_state import Repo, State, User

Json = dict[str, Any]
# GitHub stops inlining a file's content over 1 MB (content "", encoding "none")
CONTENTS_INLINE_LIMIT = 1024 * 1024


def git_ref(api: str, r: Repo, ref: str, sha: str) -> Json:
    return {
        "ref": ref, "node_id": node_id("REF", abs(hash(ref)) % 10**9),
        "url": f"{api}/repos/{r.full_name}/git/{ref}",
        "object": {"type": "commit", "sha": sha,
                   "url": f"{api}/repos/{r.full_name}/git/commits/{sha}"},
    }


def git_commit(api: str, r: Repo, c: Commit) -> Json:
    base = f"{api}/repos/{r.full_name}/git/commits"
    return {
        "sha": c.sha, "node_id": node_id("C", int(c.sha[:8], 16)), "url": f"{base}/{c.sha}",
        "html_url": f"{WEB}/{r.full_name}/commit/{c.sha}",
        "author": {"name": c.author.name, "email": c.author.email, "date": c.author.date},
        "committer": {"name": c.committer.name, "email": c.committer.email,
                      "date": c.committer.date},
        "message": c.message,
        "tree": {"sha": c.tree, "url": f"{api}/repos/{r.full_name}/git/trees/{c.tree}"},
        "parents": [{"sha": p, "url": f"{base}/{p}",
                     "html_url": f"{WEB}/{r.full_name}/commit/{p}"} for p in c.parents],
        "verification": {"verified": False, "reason": "unsigned", "signature": None,
                         "payload": None, "verified_at": None},
    }


def _tree_item(api: str, r: Repo, store: GitStore, path: str, mode: str, kind: str,
               sha: str) -> Json:
    item: Json = {"path": path, "mode": mode, "type": kind, "sha": sha}
    if kind == "blob":
        item["size"] = len(store.blobs.get(sha, b""))
        item["url"] = f"{api}/repos/{r.full_name}/git/blobs/{sha}"
    elif kind == "tree":
        item["url"] = f"{api}/repos/{r.full_name}/git/trees/{sha}"
    return item


def git_tree(api: str, r: Repo, store: GitStore, sha: str, recursive: bool,
             limit: int) -> Json:
    items: list[Json] = []
    if recursive:
        flat: dict[str, FlatEntry] = store.flatten(sha, with_trees=True)
        for path, e in flat.items():
            items.append(_tree_item(api, r, store, path, e.mode, e.type, e.sha))
    else:
        for t in store.trees[sha]:
            items.append(_tree_item(api, r, store, t.name, t.mode, t.type, t.sha))
    return {"sha": sha, "url": f"{api}/repos/{r.full_name}/git/trees/{sha}",
            "tree": items[:limit], "truncated": len(items) > limit}


def blob(api: str, r: Repo, sha: str, content: bytes) -> Json:
    return {"sha": sha, "node_id": node_id("B", int(sha[:8], 16)), "size": len(content),
            "url": f"{api}/repos/{r.full_name}/git/blobs/{sha}",
            "content": wrapped_base64(content), "encoding": "base64"}


def short_blob(api: str, r: Repo, sha: str) -> Json:
    return {"url": f"{api}/repos/{r.full_name}/git/blobs/{sha}", "sha": sha}


def wrapped_base64(content: bytes) -> str:
    # GitHub wraps base64 at 60 characters a line; clients must cope with the newlines
    text = base64.b64encode(content).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def _content_links(api: str, r: Repo, path: str, ref: str, kind: str, sha: str) -> Json:
    self_url = f"{api}/repos/{r.full_name}/contents/{path}?ref={ref}"
    git_kind = "trees" if kind == "dir" else "blobs"
    git_url = f"{api}/repos/{r.full_name}/git/{git_kind}/{sha}"
    html = f"{WEB}/{r.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
    return {"url": self_url, "git_url": git_url, "html_url": html,
            "_links": {"self": self_url, "git": git_url, "html": html}}


def content_file(api: str, r: Repo, path: str, ref: str, sha: str, content: bytes) -> Json:
    links = _content_links(api, r, path, ref, "file", sha)
    inline = len(content) <= CONTENTS_INLINE_LIMIT
    return {
        "type": "file", "encoding": "base64" if inline else "none", "size": len(content),
        "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha,
        "content": wrapped_base64(content) if inline else "",
        "download_url": f"https://raw.githubusercontent.com/{r.full_name}/{ref}/{path}",
        **links,
    }


def content_item(api: str, r: Repo, store: GitStore, parent: str, ref: str,
                 entry: TreeEntry) -> Json:
    path = f"{parent.strip('/')}/{entry.name}".lstrip("/")
    kind = {"tree": "dir", "commit": "submodule"}.get(entry.type, "file")
    if entry.mode == "120000":
        kind = "symlink"
    size = len(store.blobs.get(entry.sha, b"")) if entry.type == "blob" else 0
    download = (f"https://raw.githubusercontent.com/{r.full_name}/{ref}/{path}"
                if kind == "file" else None)
    return {"type": kind, "size": size, "name": entry.name, "path": path, "sha": entry.sha,
            "download_url": download, **_content_links(api, r, path, ref, kind, entry.sha)}


def diff_entry(api: str, r: Repo, head_sha: str, d: FileDiff) -> Json:
    body: Json = {
        "sha": d.sha or d.old_sha, "filename": d.filename, "status": d.status,
        "additions": d.additions, "deletions": d.deletions, "changes": d.changes,
        "blob_url": f"{WEB}/{r.full_name}/blob/{head_sha}/{d.filename}",
        "raw_url": f"{WEB}/{r.full_name}/raw/{head_sha}/{d.filename}",
        "contents_url": f"{api}/repos/{r.full_name}/contents/{d.filename}?ref={head_sha}",
    }
    if d.patch is not None:
        body["patch"] = d.patch
    if d.previous_filename:
        body["previous_filename"] = d.previous_filename
    return body


APP_PERMISSIONS = {"contents": "write", "issues": "write", "pull_requests": "write",
                   "metadata": "read"}
APP_EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review"]


def app(api: str, app_id: int, slug: str, owner: User, client_id: str) -> Json:
    return {
        "id": app_id, "slug": slug, "node_id": node_id("A", app_id), "client_id": client_id,
        "owner": user(api, owner), "name": slug.replace("-", " ").title(),
        "description": "Fake GitHub App for tests", "external_url": "https://example.test",
        "html_url": f"{WEB}/apps/{slug}", "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z", "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS, "installations_count": 1,
    }


def installation(api: str, installation_id: int, app_id: int, slug: str, client_id: str,
                 account: User) -> Json:
    return {
        "id": installation_id, "account": user(api, account), "repository_selection": "all",
        "access_tokens_url": f"{api}/app/installations/{installation_id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{WEB}/settings/installations/{installation_id}", "app_id": app_id,
        "client_id": client_id, "target_id": account.id, "target_type": account.type,
        "permissions": APP_PERMISSIONS, "events": APP_EVENTS,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "single_file_name": None, "app_slug": slug, "suspended_by": None,
        "suspended_at": None,
    }


def permission(api: str, state: State, r: Repo, login: str, legacy: str, role: str) -> Json:
    u = user(api, state.user(login))
    rights = {"admin": role == "admin", "maintain": role in ("admin", "maintain"),
              "push": role in ("admin", "maintain", "write"),
              "triage": role in ("admin", "maintain", "write", "triage"),
              "pull": role != "none"}
    return {"permission": legacy, "role_name": role,
            "user": {**u, "permissions": rights, "role_name": role}}
