"""The one fake GitHub: a started server plus the seeding API tests use to build its world.

Tests drive the bot through githubkit against ``FakeGitHub.url``; they set the scene with the
methods here (repositories with files, roles, issues, comments, branches, pull requests) and in
github_seeding.py (check runs, workflow runs and their logs, code scanning, merged pull
requests), inject faults, and read back what the bot did through ``requests`` and the state. The shapes of what
it answers are checked against GitHub's OpenAPI description when the description is available
(``.ci/fetch-github-fixtures``), and every violation is recorded in ``violations``.

Two base URLs, as GitHub has: ``url`` is the REST API (https://api.github.com) and ``web_url``
GitHub's web side (https://github.com), a second port that serves only the App manifest flow's
pages (github_web.py). Apps registered through that flow are further App identities the API
accepts JWTs from (``manifest_apps``, ``install_manifest_app``; github_manifest.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tests.fakes.github_appserver import AppServer
from tests.fakes.github_git import Signature
from tests.fakes.github_logs import LogHost
from tests.fakes.github_manifest import (
    Code,
    Installation,
    ManifestApp,
    permission_levels,
    validate_manifest,
)
from tests.fakes.github_routes_issues import new_comment, new_issue
from tests.fakes.github_routes_pulls import open_pull
from tests.fakes.github_seeding import Seeding
from tests.fakes.github_server import Backend, Fault, RecordedRequest, ServerThread, Violation
from tests.fakes.github_state import Comment, Issue, Pull, Repo, now_iso
from tests.fakes.github_web import web_app
from tests.fakes.openapi import OpenAPI

ACTION_TOKEN = "ghs_fake_action_token"  # accepted as GITHUB_TOKEN (Action and replay mode)
Files = Mapping[str, bytes | str | None]  # None deletes the path


def _bytes(content: bytes | str) -> bytes:
    return content if isinstance(content, bytes) else content.encode()


class FakeGitHub(Seeding):
    def __init__(self, openapi: OpenAPI | None) -> None:
        self.backend = Backend(openapi)
        self._server = ServerThread(self.backend)
        self.logs = LogHost(self.backend.state)  # where job-log downloads are redirected
        self.backend.log_host = self.logs
        self._web = AppServer(web_app(self.backend), name="fake-github-web")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        self._server.start()
        self.logs.start()
        self._web.start()
        self.backend.web_url = self.web_url
        return self

    def stop(self) -> None:
        self._web.stop()
        self._server.stop()
        self.logs.stop()

    def reset(self) -> None:
        self.backend.reset()
        self.logs.reset()

    @property
    def url(self) -> str:
        """The API base URL, as ``GITHUB_API_URL`` takes it."""
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def web_url(self) -> str:
        """GitHub's web side (https://github.com in production): the manifest flow's pages."""
        return f"http://127.0.0.1:{self._web.port}"

    @property
    def state(self) -> Any:
        return self.backend.state

    @property
    def app(self) -> Any:
        """The App's identity: ``app_id``, ``private_key_pem``, ``installation_id``, ``bot_login``."""
        return self.backend.app

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.backend.requests

    @property
    def violations(self) -> list[Violation]:
        return self.backend.violations

    def set_latency(self, seconds: float) -> None:
        self.backend.latency = seconds

    def writes(self) -> list[RecordedRequest]:
        """Every request that could change state."""
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")
                and not r.path.endswith("/access_tokens")]

    # -- faults ------------------------------------------------------------------------------
    def fail(self, method: str, path: str, status: int, body: Any = None,
             headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next ``times`` requests matching ``method`` ("*" for any) and the regex ``path``
        are answered with ``status`` (and ``body``/``headers``) instead."""
        with self.state.lock:
            self.backend.faults.append(Fault(method.upper(), re.compile(path), status, body,
                                             dict(headers or {}), times))

    # -- seeding -----------------------------------------------------------------------------
    def create_repo(self, full_name: str, files: Files | None = None, *,
                    default_branch: str = "main", private: bool = False,
                    description: str | None = "A repository for tests",
                    roles: Mapping[str, str] | None = None, fork_of: str | None = None) -> Repo:
        owner_login, name = full_name.split("/", 1)
        with self.state.lock:
            owner = self.state.user(owner_login)
            repo = Repo(self.state.new_id(), owner, name, description, private,
                        fork_of is not None, default_branch, now_iso(), parent=fork_of)
            self.state.repos[full_name.lower()] = repo
            for login, role in (roles or {}).items():
                repo.roles[login.lower()] = role
            if fork_of is not None and files is None:  # a fork starts with its parent's branches
                source = self._repo(fork_of)
                repo.refs.update({k: v for k, v in source.refs.items()
                                  if k.startswith("refs/heads/")})
                return repo
            self.commit(full_name, default_branch, files or {"README.md": f"# {name}\n"},
                        message="Initial commit", parent=None)
        return repo

    def _repo(self, full_name: str) -> Repo:
        repo = self.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name} in the fake")
        return repo

    def set_role(self, full_name: str, login: str, role: str) -> None:
        with self.state.lock:
            self._repo(full_name).roles[login.lower()] = role

    def commit(self, full_name: str, branch: str, files: Files, *, message: str = "change",
               parent: str | bool | None = True, author: str = "octocat") -> str:
        """Commit ``files`` on ``branch`` (created from the default branch when new) and move
        the branch; ``parent=None`` makes a root commit with exactly ``files``."""
        with self.state.lock:
            repo = self._repo(full_name)
            store = self.state.store
            if parent is True:
                parent = repo.head(branch) or repo.head(repo.default_branch)
            flat: dict[str, bytes] = {}
            if parent:
                flat = dict(store.files_at(store.commits[str(parent)].tree))
            for path, content in files.items():
                if content is None:
                    flat.pop(path, None)
                else:
                    flat[path] = _bytes(content)
            tree = store.tree_from_files(flat)
            sig: Signature = self.state.signature(author)
            commit = store.put_commit(tree, [str(parent)] if parent else [], message, sig, sig)
            repo.refs[f"refs/heads/{branch}"] = commit.sha
            repo.pushed_at = now_iso()
            return commit.sha

    def files(self, full_name: str, ref: str) -> dict[str, bytes]:
        """Every file at a branch or commit, path -> content."""
        with self.state.lock:
            repo = self._repo(full_name)
            store = self.state.store
            sha = repo.refs.get(f"refs/heads/{ref}") or ref
            return dict(store.files_at(store.commits[sha].tree))

    def add_issue(self, full_name: str, title: str, body: str | None = "", *,
                  user: str = "octocat", labels: list[str] | None = None) -> Issue:
        with self.state.lock:
            return new_issue(self.state, self._repo(full_name), title, body, user, labels or [])

    def add_comment(self, full_name: str, number: int, body: str, *, user: str = "octocat") -> Comment:
        with self.state.lock:
            repo = self._repo(full_name)
            return new_comment(self.state, repo, repo.issues[number], body, user)

    def comments(self, full_name: str, number: int) -> list[Comment]:
        with self.state.lock:
            issue = self._repo(full_name).issues[number]
            return [self.state.comments[i] for i in issue.comment_ids if i in self.state.comments]

    def open_pull(self, full_name: str, head: str, files: Files, *, title: str = "A change",
                  body: str = "", user: str = "octocat", base: str | None = None,
                  draft: bool = False, head_repo: str | None = None) -> Pull:
        """Commit ``files`` on a new branch ``head`` (in ``head_repo``, a fork, when given) and
        open a pull request from it."""
        with self.state.lock:
            repo = self._repo(full_name)
            source = self._repo(head_repo) if head_repo else repo
            base = base or repo.default_branch
            if head_repo:
                source.refs.setdefault(f"refs/heads/{base}", repo.head(base) or "")
            self.commit(source.full_name, head, files, message=title, author=user)
            return open_pull(self.state, repo, source, head, base, title, body,
                             self.state.user(user), draft=draft)

    def pull_issue(self, full_name: str, number: int) -> Issue:
        with self.state.lock:
            return self._repo(full_name).issues[number]

    def pulls(self, full_name: str) -> list[Pull]:
        with self.state.lock:
            return list(self._repo(full_name).pulls.values())

    def reviews(self, full_name: str, number: int) -> list[Any]:
        with self.state.lock:
            pull = self._repo(full_name).pulls[number]
            return [self.state.reviews[i] for i in pull.review_ids]

    # -- the App manifest flow (github_manifest.py, github_web.py) ---------------------------
    @property
    def web_login(self) -> str:
        """Who is signed in on the web side: the owner of Apps registered at /settings/apps/new."""
        return self.backend.manifest.login

    @web_login.setter
    def web_login(self, login: str) -> None:
        self.backend.manifest.login = login

    @property
    def manifest_apps(self) -> dict[str, ManifestApp]:
        """Apps registered from a manifest, by slug, oldest first."""
        with self.state.lock:
            return dict(self.backend.manifest.apps)

    def manifest_app(self, slug: str | None = None) -> ManifestApp:
        """The App registered as ``slug``, or the latest one."""
        with self.state.lock:
            apps = self.backend.manifest.apps
            if not apps:
                raise KeyError("no App has been registered from a manifest")
            return apps[slug] if slug else list(apps.values())[-1]

    @property
    def web_requests(self) -> list[dict[str, Any]]:
        """What the web side was sent: method, path, query, form, status."""
        return self.backend.manifest.web_requests

    def register_manifest_app(self, manifest: dict[str, Any], *, name: str | None = None,
                              org: str | None = None, state: str | None = None
                              ) -> tuple[ManifestApp, str]:
        """Seed an App as if ``manifest`` had been posted and confirmed on the web side: the
        App and its temporary code (trade it at ``POST /app-manifests/{code}/conversions``).
        Raises ValueError with GitHub's objections when the manifest is not valid."""
        with self.state.lock:
            checked, problems = validate_manifest(json.dumps(manifest),
                                                  permission_levels(self.backend.openapi))
            name = name or (checked or {}).get("name") or ""
            problem = self.backend.manifest.name_problem(name, {self.app.slug})
            if problems or checked is None or problem:
                raise ValueError("; ".join(problems + ([problem] if problem else [])))
            owner, kind = (org, "Organization") if org else (self.web_login, "User")
            pending = self.backend.manifest.hold(checked, owner, kind, state)
            app, code = self.backend.manifest.register(self.state, pending, name)
            return app, code.value

    def manifest_codes(self) -> list[Code]:
        with self.state.lock:
            return list(self.backend.manifest.codes.values())

    def expire_manifest_codes(self) -> None:
        """Every outstanding code and unconfirmed manifest is now older than the hour."""
        with self.state.lock:
            self.backend.manifest.expire()

    def install_manifest_app(self, full_name: str, app: ManifestApp | str | None = None
                             ) -> Installation:
        """Install a manifest App (the latest when not named) on a seeded repository; its
        first installation becomes ``app.installation_id``."""
        with self.state.lock:
            self._repo(full_name)
            chosen = app if isinstance(app, ManifestApp) else self.manifest_app(app)
            return self.backend.manifest.install(chosen, full_name)

    def install_manifest_apps_on(self, *full_names: str) -> None:
        """Every App registered from now on is installed on these repositories at once."""
        with self.state.lock:
            self.backend.manifest.auto_install = list(full_names)
