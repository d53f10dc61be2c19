"""Repositories, contents and the Git Data API (refs, blobs, trees, commits)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

from tests.fakes import github_shapes as shapes
from tests.fakes import github_shapes_git as git_shapes
from tests.fakes.github_git import BLOB_MODES, TREE_MODE, FlatEntry, Signature
from tests.fakes.github_http import Call, HttpError, Reply, Routes, not_found, unprocessable
from tests.fakes.github_state import Repo, State, now_iso

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

README = re.compile(r"^readme(\.[\w.]+)?$", re.IGNORECASE)


def repo_or_404(state: State, call: Call) -> Repo:
    repo = state.repo(f"{call.params['owner']}/{call.params['repo']}")
    if repo is None:
        raise not_found()
    return repo


def resolve_commit(state: State, repo: Repo, ref: str) -> str | None:
    """A branch, tag, full ref or commit SHA (full or abbreviated) to a commit SHA."""
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/{ref}"):
        if name in repo.refs:
            return repo.refs[name]
    if ref in state.store.commits:
        return ref
    if re.fullmatch(r"[0-9a-f]{7,39}", ref):
        found = [sha for sha in state.store.commits if sha.startswith(ref)]
        if len(found) == 1:
            return found[0]
    return None


def commit_or_404(state: State, repo: Repo, ref: str | None) -> str:
    sha = resolve_commit(state, repo, ref or repo.default_branch)
    if sha is None:
        raise HttpError(404, shapes.error(f"No commit found for the ref {ref}", 404))
    return sha


def get_repo(b: Backend, call: Call) -> Reply:
    return Reply(200, shapes.repository(call.base_url, b.state, repo_or_404(b.state, call)))


def get_readme(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    ref = call.query.get("ref") or repo.default_branch
    tree = b.state.store.commits[commit_or_404(b.state, repo, ref)].tree
    for folder in (".github", "", "docs"):
        entry = b.state.store.lookup(tree, folder)
        if entry is None or entry.type != "tree":
            continue
        for item in b.state.store.trees[entry.sha]:
            if item.type == "blob" and README.match(item.name):
                path = f"{folder}/{item.name}".lstrip("/")
                return _file_reply(b, call, repo, path, ref, item.sha)
    raise not_found()


def _file_reply(b: Backend, call: Call, repo: Repo, path: str, ref: str, sha: str) -> Reply:
    content = b.state.store.blobs[sha]
    if call.accept("application/vnd.github.raw"):
        return Reply(200, content, content_type="application/vnd.github.raw")
    return Reply(200, git_shapes.content_file(call.base_url, repo, path, ref, sha, content))


def get_contents(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    ref = call.query.get("ref") or repo.default_branch
    path = call.params["path"].strip("/")
    tree = b.state.store.commits[commit_or_404(b.state, repo, ref)].tree
    entry = b.state.store.lookup(tree, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        items = [git_shapes.content_item(call.base_url, repo, b.state.store, path, ref, e)
                 for e in b.state.store.trees[entry.sha]]
        return Reply(200, items)
    return _file_reply(b, call, repo, path, ref, entry.sha)


# -- refs ------------------------------------------------------------------------------------
def get_ref(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    name = "refs/" + call.params["ref"]
    if name not in repo.refs:
        raise not_found()
    return Reply(200, git_shapes.git_ref(call.base_url, repo, name, repo.refs[name]))


def matching_refs(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    prefix = "refs/" + call.params["ref"]
    return Reply(200, [git_shapes.git_ref(call.base_url, repo, name, sha)
                       for name, sha in sorted(repo.refs.items()) if name.startswith(prefix)])


def _commit_exists(b: Backend, sha: object) -> str:
    if not isinstance(sha, str) or sha not in b.state.store.commits:
        raise unprocessable("Object does not exist", resource="Reference", field="sha")
    return sha


def create_ref(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    name = str(call.field("ref", ""))
    if not name.startswith("refs/") or name.count("/") < 2:
        raise unprocessable("Reference name must start with 'refs/' and have at least two "
                            "slashes.", resource="Reference", field="ref")
    if name in repo.refs:
        raise unprocessable("Reference already exists", resource="Reference", field="ref")
    repo.refs[name] = _commit_exists(b, call.field("sha"))
    repo.pushed_at = now_iso()
    return Reply(201, git_shapes.git_ref(call.base_url, repo, name, repo.refs[name]))


def update_ref(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    name = "refs/" + call.params["ref"]
    if name not in repo.refs:
        raise unprocessable("Reference does not exist", resource="Reference", field="ref")
    sha = _commit_exists(b, call.field("sha"))
    if not call.field("force", False) and not b.state.store.is_ancestor(repo.refs[name], sha):
        raise unprocessable("Update is not a fast forward", resource="Reference", field="sha")
    repo.refs[name] = sha
    repo.pushed_at = now_iso()
    return Reply(200, git_shapes.git_ref(call.base_url, repo, name, sha))


def delete_ref(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    name = "refs/" + call.params["ref"]
    if repo.refs.pop(name, None) is None:
        raise unprocessable("Reference does not exist", resource="Reference", field="ref")
    return Reply(204)


# -- blobs, trees, commits -------------------------------------------------------------------
def create_blob(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    content, encoding = call.field("content"), call.field("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(str(content))
        except binascii.Error:
            raise unprocessable("content is not valid Base64", resource="Blob",
                                field="content") from None
    elif encoding in ("utf-8", "utf8"):
        data = str(content).encode()
    else:
        raise unprocessable(f"encoding {encoding} is not supported", resource="Blob",
                            field="encoding")
    sha = b.state.store.put_blob(data)
    body = git_shapes.short_blob(call.base_url, repo, sha)
    return Reply(201, body, {"location": body["url"]})


def get_blob(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    sha = call.params["file_sha"]
    if sha not in b.state.store.blobs:
        raise not_found()
    return Reply(200, git_shapes.blob(call.base_url, repo, sha, b.state.store.blobs[sha]))


def create_tree(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    store = b.state.store
    base_tree = call.field("base_tree")
    if base_tree is not None and base_tree not in store.trees:
        raise unprocessable("base_tree is not a valid tree oid", resource="Tree",
                            field="base_tree")
    flat = store.flatten(base_tree) if base_tree else {}
    for item in call.field("tree", []):
        path, mode, kind = item.get("path", ""), item.get("mode"), item.get("type")
        if not path or path.startswith("/") or path.endswith("/"):
            raise unprocessable(f"tree.path {path!r} is invalid", resource="Tree", field="path")
        if "sha" in item and "content" in item:
            raise unprocessable("Must supply either tree.sha or tree.content. Request will "
                                "be rejected if both are present.", resource="Tree")
        if "sha" not in item and "content" not in item:
            raise unprocessable("Must supply tree.sha or tree.content", resource="Tree")
        # a deletion, or a replacement, drops whatever was at or under the path
        for old in [p for p in flat if p == path or p.startswith(path + "/")]:
            del flat[old]
        if "sha" in item and item["sha"] is None:
            continue
        if "content" in item:
            flat[path] = FlatEntry(mode or "100644", "blob", store.put_blob(
                str(item["content"]).encode()))
        elif kind == "tree" or mode == TREE_MODE:
            if item["sha"] not in store.trees:
                raise unprocessable(f"tree.sha {item['sha']} is not a valid tree",
                                    resource="Tree", field="sha")
            for sub, entry in store.flatten(item["sha"]).items():
                flat[f"{path}/{sub}"] = entry
        else:
            if (kind == "blob" and item["sha"] not in store.blobs) or mode not in (
                    *BLOB_MODES, "160000"):
                raise unprocessable(f"tree.sha {item['sha']} is not a valid blob",
                                    resource="Tree", field="sha")
            flat[path] = FlatEntry(mode, kind or "blob", item["sha"])
    try:
        sha = store.build_tree(flat)
    except ValueError as exc:
        raise unprocessable(str(exc), resource="Tree", field="path") from None
    return Reply(201, git_shapes.git_tree(call.base_url, repo, store, sha, False,
                                          b.tree_limit))


def get_tree(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    sha = call.params["tree_sha"]
    if sha not in b.state.store.trees:
        commit = resolve_commit(b.state, repo, sha)
        if commit is None:
            raise not_found()
        sha = b.state.store.commits[commit].tree
    # GitHub recurses for any value of `recursive`, even "0" or "false"
    recursive = "recursive" in call.query
    return Reply(200, git_shapes.git_tree(call.base_url, repo, b.state.store, sha, recursive,
                                          b.tree_limit))


def _signature(call: Call, name: str, default: Signature) -> Signature:
    given = call.field(name)
    if not isinstance(given, dict):
        return default
    return Signature(given.get("name", default.name), given.get("email", default.email),
                     given.get("date") or default.date)


def create_commit(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    store = b.state.store
    tree, parents = call.field("tree"), call.field("parents", [])
    if tree not in store.trees:
        raise unprocessable("Tree SHA does not exist", resource="Commit", field="tree")
    for parent in parents:
        if parent not in store.commits:
            raise unprocessable("Parent SHA does not exist or is not a commit object",
                                resource="Commit", field="parents")

    author = _signature(call, "author", b.state.signature(call.login or "ghost"))
    committer = _signature(call, "committer", author)
    commit = store.put_commit(tree, list(parents), str(call.field("message", "")),
                              author, committer)
    return Reply(201, git_shapes.git_commit(call.base_url, repo, commit))


def get_commit(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    commit = b.state.store.commits.get(call.params["commit_sha"])
    if commit is None:
        raise not_found()
    return Reply(200, git_shapes.git_commit(call.base_url, repo, commit))


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}"
    routes.add("GET", base, get_repo)
    routes.add("GET", base + "/readme", get_readme)
    routes.add("GET", base + "/contents/{path*}", get_contents)
    routes.add("GET", base + "/git/ref/{ref*}", get_ref)
    routes.add("GET", base + "/git/matching-refs/{ref*}", matching_refs)
    routes.add("POST", base + "/git/refs", create_ref)
    routes.add("PATCH", base + "/git/refs/{ref*}", update_ref)
    routes.add("DELETE", base + "/git/refs/{ref*}", delete_ref)
    routes.add("POST", base + "/git/blobs", create_blob)
    routes.add("GET", base + "/git/blobs/{file_sha}", get_blob)
    routes.add("POST", base + "/git/trees", create_tree)
    routes.add("GET", base + "/git/trees/{tree_sha*}", get_tree)
    routes.add("POST", base + "/git/commits", create_commit)
    routes.add("GET", base + "/git/commits/{commit_sha}", get_commit)
