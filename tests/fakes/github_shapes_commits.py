"""The REST ``commit`` and ``commit-comparison`` bodies, in GitHub's shapes.

GitHub links a commit's author and committer to accounts by their email; the fake's signatures
use each user's noreply address, so that link is exact here, and a commit made with another
address has ``author: null`` as on GitHub.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.github_diff import FileDiff
from tests.fakes.github_git import Signature
from tests.fakes.github_shapes import WEB, node_id, user
from tests.fakes.github_shapes_git import diff_entry
from tests.fakes.github_state import Repo, State

Json = dict[str, Any]
NOREPLY = re.compile(r"^\d+\+(?P<login>[^@]+)@users\.noreply\.github\.com$")


def _account(api: str, state: State, sig: Signature) -> Json | None:
    found = NOREPLY.match(sig.email)
    known = state.users.get(found["login"].lower()) if found else None
    return user(api, known) if known else None


def commit(api: str, state: State, r: Repo, sha: str) -> Json:
    """A commit as lists and comparisons show it (`get-commit` adds stats and files)."""
    c = state.store.commits[sha]
    url = f"{api}/repos/{r.full_name}/commits/{sha}"
    body: Json = {
        "url": url, "sha": sha, "node_id": node_id("C", int(sha[:8], 16)),
        "html_url": f"{WEB}/{r.full_name}/commit/{sha}", "comments_url": f"{url}/comments",
        "commit": {
            "url": f"{api}/repos/{r.full_name}/git/commits/{sha}",
            "author": {"name": c.author.name, "email": c.author.email, "date": c.author.date},
            "committer": {"name": c.committer.name, "email": c.committer.email,
                          "date": c.committer.date},
            "message": c.message, "comment_count": 0,
            "tree": {"sha": c.tree, "url": f"{api}/repos/{r.full_name}/git/trees/{c.tree}"},
            "verification": {"verified": False, "reason": "unsigned", "signature": None,
                             "payload": None, "verified_at": None},
        },
        "author": _account(api, state, c.author),
        "committer": _account(api, state, c.committer),
        "parents": [{"sha": p, "url": f"{api}/repos/{r.full_name}/commits/{p}",
                     "html_url": f"{WEB}/{r.full_name}/commit/{p}"} for p in c.parents],
    }
    return body


def stats(diffs: list[FileDiff]) -> Json:
    additions = sum(d.additions for d in diffs)
    deletions = sum(d.deletions for d in diffs)
    return {"additions": additions, "deletions": deletions, "total": additions + deletions}


def comparison(api: str, state: State, r: Repo, basehead: str, base: str, merge_base: str,
               status: str, ahead: int, behind: int, commits: list[str],
               files: list[FileDiff] | None, head: str) -> Json:
    url = f"{api}/repos/{r.full_name}/compare/{basehead}"
    html = f"{WEB}/{r.full_name}/compare/{basehead}"
    body: Json = {
        "url": url, "html_url": html,
        "permalink_url": f"{WEB}/{r.full_name}/compare/{r.owner.login}:{base[:7]}..."
                         f"{r.owner.login}:{head[:7]}",
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
        "base_commit": commit(api, state, r, base),
        "merge_base_commit": commit(api, state, r, merge_base),
        "status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
        "commits": [commit(api, state, r, sha) for sha in commits],
    }
    if files is not None:
        body["files"] = [diff_entry(api, r, head, d) for d in files]
    return body
