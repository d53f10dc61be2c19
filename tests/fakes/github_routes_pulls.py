"""Pull requests: list, create, update, files, the diff media type, and reviews."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes import github_shapes as shapes
from tests.fakes import github_shapes_git as git_shapes
from tests.fakes.github_diff import commentable_lines, unified_diff
from tests.fakes.github_http import (
    Call,
    HttpError,
    Reply,
    Routes,
    not_found,
    paginate,
    unprocessable,
    unprocessable_simple,
)
from tests.fakes.github_routes_repo import repo_or_404
from tests.fakes.github_state import Issue, Pull, Repo, Review, ReviewComment, State, User, now_iso

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

# GitHub's documented limits
MAX_LISTED_FILES = 3000
MAX_DIFF_FILES = 300
MAX_DIFF_LINES = 20000
REVIEW_STATES = {"COMMENT": "COMMENTED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                 "APPROVE": "APPROVED", None: "PENDING"}


def pull_or_404(state: State, call: Call) -> tuple[Repo, Pull]:
    repo = repo_or_404(state, call)
    try:
        pull = repo.pulls.get(int(call.params["pull_number"]))
    except ValueError:
        pull = None
    if pull is None:
        raise not_found()
    return repo, pull


def open_pull(state: State, repo: Repo, head_repo: Repo, head_ref: str, base_ref: str,
              title: str, body: str | None, user: User, draft: bool = False,
              maintainer_can_modify: bool = False) -> Pull:
    """Validate like GitHub and open the PR; shared by the API and the seeding helpers."""
    if repo.head(base_ref) is None:
        raise unprocessable("Validation Failed", resource="PullRequest", field="base")
    head_sha = head_repo.head(head_ref)
    if head_sha is None:
        raise unprocessable("Validation Failed", resource="PullRequest", field="head")
    label = f"{head_repo.owner.login}:{head_ref}"
    for other in repo.pulls.values():
        if repo.issues[other.number].state == "open" and other.base_ref == base_ref and \
                other.head_ref == head_ref and other.head_repo.lower() == \
                head_repo.full_name.lower():
            raise unprocessable(f"A pull request already exists for {label}.",
                                resource="PullRequest", code="custom")
    base_sha = repo.head(base_ref) or ""
    if not state.store.commits_between(base_sha, head_sha):
        raise unprocessable(f"No commits between {base_ref} and {head_ref}",
                            resource="PullRequest", code="custom")
    stamp = now_iso()
    number = repo.next_number()
    repo.issues[number] = Issue(number, state.new_id(), title, body, user, stamp, stamp,
                                is_pull=True)
    pull = Pull(number, state.new_id(), head_repo.full_name, head_ref, base_ref, draft,
                maintainer_can_modify=maintainer_can_modify, last_head=head_sha)
    repo.pulls[number] = pull
    return pull


def list_pulls(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    wanted = call.query.get("state", "open")
    head, base = call.query.get("head"), call.query.get("base")
    found = []
    for pull in repo.pulls.values():
        issue = repo.issues[pull.number]
        if wanted != "all" and issue.state != wanted:
            continue
        if base and pull.base_ref != base:
            continue
        if head:
            owner, _, branch = head.partition(":")
            head_repo = b.state.repo(pull.head_repo) or repo
            if head_repo.owner.login.lower() != owner.lower() or (
                    branch and pull.head_ref != branch):
                continue
        found.append(pull)
    newest_first = call.query.get("direction", "desc") == "desc"
    found.sort(key=lambda p: p.number, reverse=newest_first)
    return paginate(call, found, lambda p: shapes.pull_simple(call.base_url, b.state, repo, p))


def create_pull(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    head = str(call.field("head", ""))
    owner, _, branch = head.rpartition(":")
    head_repo = repo
    if owner and owner.lower() != repo.owner.login.lower():
        head_repo = b.state.repo(call.field("head_repo") or f"{owner}/{repo.name}") or repo
        if head_repo is repo:
            raise unprocessable("Validation Failed", resource="PullRequest", field="head")
    pull = open_pull(b.state, repo, head_repo, branch, str(call.field("base", "")),
                     str(call.field("title", "")), call.field("body"),
                     b.state.user(call.login or "ghost"), bool(call.field("draft", False)),
                     bool(call.field("maintainer_can_modify", False)))
    body = shapes.pull_request(call.base_url, b.state, repo, pull)
    return Reply(201, body, {"location": body["url"]})


def get_pull(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    if call.accept("diff"):
        base_sha, head_sha = b.state.pull_shas(repo, pull)
        diffs = b.state.diff(base_sha, head_sha)
        too_many = len(diffs) > MAX_DIFF_FILES
        if too_many or sum(d.changes for d in diffs) > MAX_DIFF_LINES:
            limit = f"files ({MAX_DIFF_FILES})" if too_many else f"lines ({MAX_DIFF_LINES})"
            raise HttpError(406, {
                "message": f"Sorry, the diff exceeded the maximum number of {limit}. Consider "
                           "using 'List pull requests files' API or locally cloning the "
                           "repository instead.",
                "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls"
                                     "#list-pull-requests-files", "status": "406"})
        return Reply(200, unified_diff(diffs), content_type="application/vnd.github.diff")
    return Reply(200, shapes.pull_request(call.base_url, b.state, repo, pull))


def update_pull(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    issue = repo.issues[pull.number]
    if call.field("title") is not None:
        issue.title = str(call.field("title"))
    if isinstance(call.body, dict) and "body" in call.body:
        issue.body = call.body["body"]
    if call.field("base"):
        if repo.head(call.field("base")) is None:
            raise unprocessable("Validation Failed", resource="PullRequest", field="base")
        pull.base_ref = call.field("base")
    state = call.field("state")
    if state in ("open", "closed") and state != issue.state:
        issue.state, issue.closed_at = state, (now_iso() if state == "closed" else None)
    if call.field("maintainer_can_modify") is not None:
        pull.maintainer_can_modify = bool(call.field("maintainer_can_modify"))
    issue.updated_at = now_iso()
    return Reply(200, shapes.pull_request(call.base_url, b.state, repo, pull))


def list_files(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    base_sha, head_sha = b.state.pull_shas(repo, pull)
    diffs = b.state.diff(base_sha, head_sha)
    return paginate(call, diffs, lambda d: git_shapes.diff_entry(call.base_url, repo,
                                                                  head_sha, d),
                    max_items=MAX_LISTED_FILES)


# -- reviews ---------------------------------------------------------------------------------
def _check_comment(item: dict[str, Any], files: dict[str, Any]) -> str | None:
    """GitHub's reason to refuse one inline comment, or None."""
    diff = files.get(item.get("path", ""))
    if diff is None:
        return "Path could not be resolved"
    if item.get("subject_type") == "file":
        return None
    if diff.patch is None:
        return "Line could not be resolved"
    lines = commentable_lines(diff.patch)
    if "position" in item and "line" not in item:
        return None if item["position"] in lines.positions else "Position could not be resolved"
    line, side = item.get("line"), item.get("side", "RIGHT")
    valid = lines.right if side == "RIGHT" else lines.left
    if not isinstance(line, int) or line not in valid:
        return "Line could not be resolved"
    if "start_line" in item:
        start_side = item.get("start_side", side)
        start_valid = lines.right if start_side == "RIGHT" else lines.left
        if item["start_line"] not in start_valid:
            return "Start line could not be resolved"
        if start_side == side and item["start_line"] >= line:
            return "start_line must precede the end line."
        if start_valid[item["start_line"]] != valid[line]:
            return "Start line must be part of the same hunk as the line."
    return None


def _anchor(item: dict[str, Any], files: dict[str, Any]) -> tuple[int | None, str | None,
                                                                   int | None]:
    """(line, side, position) of a checked inline comment: GitHub fills in whichever of
    line/side and the (deprecated) diff position the request did not give."""
    if item.get("subject_type") == "file":
        return None, None, None
    lines = commentable_lines(files[item["path"]].patch)
    if "line" not in item:
        side, line = lines.positions[item["position"]]
        return line, side, item["position"]
    side = item.get("side", "RIGHT")
    found = [p for p, at in lines.positions.items() if at == (side, item["line"])]
    return item["line"], side, found[0] if found else None


def create_review(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    base_sha, head_sha = b.state.pull_shas(repo, pull)
    commit_id = call.field("commit_id") or head_sha
    if commit_id not in b.state.store.ancestors(head_sha):
        raise unprocessable_simple("Commit could not be resolved")
    event, text = call.field("event"), call.field("body") or ""
    items: list[dict[str, Any]] = call.field("comments") or []
    reviewer = b.state.user(call.login or "ghost")
    author = repo.issues[pull.number].user
    if event in ("APPROVE", "REQUEST_CHANGES") and reviewer.login == author.login:
        action = "approve" if event == "APPROVE" else "request changes on"
        raise unprocessable_simple(f"Can not {action} your own pull request")
    if (event == "REQUEST_CHANGES" or (event == "COMMENT" and not items)) and not text:
        raise unprocessable_simple("Body can't be blank")
    if event is None and any(b.state.reviews[r].state == "PENDING" and
                             b.state.reviews[r].user.login == reviewer.login
                             for r in pull.review_ids):
        raise unprocessable_simple("User can only have one pending review per pull request")
    files = {d.filename: d for d in b.state.diff(base_sha, commit_id)}
    problems = [p for p in (_check_comment(i, files) for i in items) if p]
    if problems:
        raise unprocessable_simple(*problems)
    review = Review(b.state.new_id(), pull.number, reviewer, text, REVIEW_STATES[event],
                    commit_id, None if event is None else now_iso())
    for item in items:
        line, side, position = _anchor(item, files)
        review.comments.append(ReviewComment(
            b.state.new_id(), review.id, item["path"], str(item.get("body", "")),
            line, side, item.get("start_line"), item.get("start_side"), position,
            commit_id, reviewer, now_iso()))
    b.state.reviews[review.id] = review
    pull.review_ids.append(review.id)
    return Reply(200, shapes.review(call.base_url, b.state, repo, review))


def list_reviews(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    reviews = [b.state.reviews[r] for r in pull.review_ids]
    return paginate(call, reviews, lambda v: shapes.review(call.base_url, b.state, repo, v))


def _diff_hunk(b: Backend, repo: Repo, pull: Pull, c: ReviewComment) -> str:
    base_sha, _ = b.state.pull_shas(repo, pull)
    for d in b.state.diff(base_sha, c.commit_id):
        if d.filename == c.path and d.patch:
            lines = commentable_lines(d.patch)
            side = lines.left if c.side == "LEFT" else lines.right
            return lines.hunks[side.get(c.line or 0, 0)] if lines.hunks else ""
    return ""


def list_review_comments(b: Backend, call: Call) -> Reply:
    repo, pull = pull_or_404(b.state, call)
    pairs = [(b.state.reviews[r], c) for r in pull.review_ids
             for c in b.state.reviews[r].comments]
    return paginate(call, pairs, lambda vc: shapes.review_comment(
        call.base_url, b.state, repo, vc[0], vc[1], _diff_hunk(b, repo, pull, vc[1])))


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}/pulls"
    routes.add("GET", base, list_pulls)
    routes.add("POST", base, create_pull)
    routes.add("GET", base + "/{pull_number}", get_pull)
    routes.add("PATCH", base + "/{pull_number}", update_pull)
    routes.add("GET", base + "/{pull_number}/files", list_files)
    routes.add("GET", base + "/{pull_number}/reviews", list_reviews)
    routes.add("POST", base + "/{pull_number}/reviews", create_review)
    routes.add("GET", base + "/{pull_number}/comments", list_review_comments)
