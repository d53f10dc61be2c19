"""``GET /user``: who a token belongs to.

A person's token (a personal access token) gets the person's public profile. GitHub refuses the
endpoint to an installation token, the Action's ``GITHUB_TOKEN`` included: 403 "Resource not
accessible by integration". The fake tells them apart by the login it issued the token to: an
App's bot (``...[bot]``) or a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes import github_shapes as shapes
from tests.fakes.github_http import Call, HttpError, Reply, Routes

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

DOCS = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
CREATED = "2011-01-25T18:44:36Z"


def get_authenticated_user(b: Backend, call: Call) -> Reply:
    login = call.login or ""
    user = b.state.user(login)
    if call.installation_id is not None or user.type == "Bot":
        raise HttpError(403, shapes.error("Resource not accessible by integration", 403, DOCS))
    profile = {**shapes.user(call.base_url, user), "name": None, "company": None, "blog": "",
               "location": None, "email": None, "hireable": None, "bio": None, "public_repos": 0,
               "public_gists": 0, "followers": 0, "following": 0, "created_at": CREATED,
               "updated_at": CREATED}
    return Reply(200, profile)


def register(routes: Routes) -> None:
    routes.add("GET", "/user", get_authenticated_user)
