"""One pull request review: get it, and update its body (the bot edits its summary review).

A review is found through its pull request: an id that belongs to another pull request is a
404 here, as on GitHub. Updating needs ``body``: GitHub answers 422 without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes import github_shapes as shapes
from tests.fakes.github_http import Call, Reply, Routes, not_found, unprocessable_simple
from tests.fakes.github_routes_checks import int_param
from tests.fakes.github_routes_pulls import pull_or_404
from tests.fakes.github_state import Repo, Review

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend


def _review_or_404(b: Backend, call: Call) -> tuple[Repo, Review]:
    repo, pull = pull_or_404(b.state, call)
    review_id = int_param(call, "review_id")
    if review_id not in pull.review_ids:
        raise not_found()
    return repo, b.state.reviews[review_id]


def get_review(b: Backend, call: Call) -> Reply:
    repo, review = _review_or_404(b, call)
    return Reply(200, shapes.review(call.base_url, b.state, repo, review))


def update_review(b: Backend, call: Call) -> Reply:
    repo, review = _review_or_404(b, call)
    text = call.field("body")
    if not isinstance(text, str):
        raise unprocessable_simple("Body can't be blank")
    review.body = text
    return Reply(200, shapes.review(call.base_url, b.state, repo, review))


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"
    routes.add("GET", base, get_review)
    routes.add("PUT", base, update_review)
