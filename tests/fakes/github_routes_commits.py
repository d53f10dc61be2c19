"""Commits over REST: one commit with its files, a pull request's commits, and comparisons.

All computed from the fake's git store. A comparison ``BASE...HEAD`` is what GitHub shows: the
commits on HEAD that BASE lacks (``ahead_by``), those on BASE that HEAD lacks (``behind_by``),
and the files changed since their merge base. So after a force-push, comparing the old head
with the new one is "diverged", and a branch that only added commits is "ahead".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes import github_shapes_commits as shapes
from tests.fakes.github_diff import FileDiff, diff_trees, unified_diff
from tests.fakes.github_http import Call, HttpError, Reply, Routes, page_of
from tests.fakes.github_routes_pulls import MAX_DIFF_FILES, MAX_LISTED_FILES, pull_or_404
from tests.fakes.github_routes_repo import repo_or_404, resolve_commit
from tests.fakes.github_shapes import error
from tests.fakes.github_shapes_git import diff_entry
from tests.fakes.github_state import Repo, State

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

MAX_PULL_COMMITS = 250  # "Lists a maximum of 250 commits for a pull request"
MAX_UNPAGED_COMMITS = 250  # compare without paging: the last 250 commits
DIFF_TYPE = "application/vnd.github.diff"


def commit_diff(state: State, sha: str) -> list[FileDiff]:
    """What a commit changed: against its first parent, or everything for a root commit."""
    parents = state.store.commits[sha].parents
    if parents:
        return state.diff(parents[0], sha)
    empty = state.store.put_tree([])
    return diff_trees(state.store, empty, state.store.commits[sha].tree)


def get_commit(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    ref = call.params["ref"]
    sha = resolve_commit(b.state, repo, ref)
    if sha is None:
        raise HttpError(422, error(f"No commit found for SHA: {ref}", 422))
    if call.accept("application/vnd.github.sha"):
        return Reply(200, sha, content_type="application/vnd.github.sha")
    diffs = commit_diff(b.state, sha)
    if call.accept("diff"):
        return Reply(200, unified_diff(diffs), content_type=DIFF_TYPE)
    # past 300 files the list pages through Link headers, up to 3,000 files in all
    chunk, links = page_of(call, diffs[:MAX_LISTED_FILES], MAX_DIFF_FILES, MAX_DIFF_FILES)
    body = shapes.commit(call.base_url, b.state, repo, sha)
    body["stats"] = shapes.stats(diffs)
    body["files"] = [diff_entry(call.base_url, repo, sha, d) for d in chunk]
    return Reply(200, body, links)


def list_pull_commits(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    base_sha, head_sha = b.state.pull_shas(repo, pull)
    commits = b.state.store.commits_between(base_sha, head_sha)[:MAX_PULL_COMMITS]
    chunk, links = page_of(call, commits)
    return Reply(200, [shapes.commit(call.base_url, b.state, repo, c) for c in chunk], links)


def _side(b: Backend, repo: Repo, spec: str) -> str | None:
    """``ref`` in the repository, or ``owner:ref`` in a repository of its network."""
    owner, _, ref = spec.rpartition(":")
    where = repo
    if owner and owner.lower() != repo.owner.login.lower():
        network = {r.full_name.lower() for r in b.state.repos.values()
                   if r.parent and r.parent.lower() == repo.full_name.lower()}
        if repo.parent:
            network.add(repo.parent.lower())
        found = [r for r in b.state.repos.values() if r.owner.login.lower() == owner.lower()
                 and r.full_name.lower() in network]
        if not found:
            return None
        where = found[0]
    return resolve_commit(b.state, where, ref)


def compare(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    basehead = call.params["basehead"]
    base_spec, dots, head_spec = basehead.partition("...")
    base = _side(b, repo, base_spec) if dots else None
    head = _side(b, repo, head_spec) if dots else None
    if base is None or head is None:
        raise HttpError(404, error("Not Found", 404))
    store = b.state.store
    merge_base = store.merge_base(base, head)
    if merge_base is None:
        raise HttpError(404, error(f"No common ancestor between {base_spec} and "
                                   f"{head_spec}.", 404))
    ahead = store.commits_between(base, head)
    behind = store.commits_between(head, base)
    status = ("identical" if not ahead and not behind else "ahead" if not behind
              else "behind" if not ahead else "diverged")
    diffs = b.state.diff(base, head)  # from the merge base, as the three dots say
    if call.accept("diff"):
        return Reply(200, unified_diff(diffs), content_type=DIFF_TYPE)
    files: list[FileDiff] | None = diffs[:MAX_DIFF_FILES]
    if "page" in call.query or "per_page" in call.query:
        commits, links = page_of(call, ahead)
        if call.int_query("page", 1) > 1:  # files come on the first page only
            files = None
    else:
        commits, links = ahead[-MAX_UNPAGED_COMMITS:], {}
    body = shapes.comparison(call.base_url, b.state, repo, basehead, base, merge_base, status,
                             len(ahead), len(behind), commits, files, head)
    return Reply(200, body, links)


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}"
    routes.add("GET", base + "/commits/{ref*}", get_commit)
    routes.add("GET", base + "/compare/{basehead*}", compare)
    routes.add("GET", base + "/pulls/{pull_number}/commits", list_pull_commits)
