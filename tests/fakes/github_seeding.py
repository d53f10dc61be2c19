"""More of FakeGitHub's seeding API: CI results, code scanning, and closing pull requests.

A mixin of `FakeGitHub` (github.py), kept in its own module so the seeding of checks, Actions
and code scanning grows without crowding the core. Everything here builds state the way GitHub
would have built it: a workflow run brings its check suite and one check run per job; a merged
pull request has a real merge commit on its base branch.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.github_logs import LogHost, LogRequest
from tests.fakes.github_routes_actions import new_workflow_run
from tests.fakes.github_routes_checks import branch_of, new_check_run, suite_for
from tests.fakes.github_routes_repo import resolve_commit
from tests.fakes.github_state import Pull, Repo, now_iso
from tests.fakes.github_state_ci import ACTIONS_SLUG, Alert, CheckRun, WorkflowRun


def _merged_files(base: dict[str, bytes], ours: dict[str, bytes],
                  theirs: dict[str, bytes]) -> dict[str, bytes]:
    """A file-level three-way merge; a path both sides changed differently is a conflict."""
    merged: dict[str, bytes] = {}
    for path in sorted(set(base) | set(ours) | set(theirs)):
        was, a, b = base.get(path), ours.get(path), theirs.get(path)
        if a == b:
            pick = a
        elif a == was:
            pick = b
        elif b == was:
            pick = a
        else:
            raise ValueError(f"merge conflict in {path}")
        if pick is not None:
            merged[path] = pick
    return merged


class Seeding:
    state: Any
    app: Any
    logs: LogHost

    def _repo(self, full_name: str) -> Repo:  # FakeGitHub's
        raise NotImplementedError

    # -- checks and Actions --------------------------------------------------------------------
    def _sha(self, repo: Repo, ref: str) -> str:
        sha = resolve_commit(self.state, repo, ref)
        if sha is None:
            raise KeyError(f"no commit {ref} in {repo.full_name}")
        return sha

    def add_workflow_run(self, full_name: str, head: str, head_branch: str | None = None, *,
                         name: str = "CI", path: str = ".github/workflows/ci.yml",
                         event: str = "push", conclusion: str = "success",
                         status: str = "completed", jobs: list[dict[str, Any]] | None = None,
                         actor: str = "octocat") -> WorkflowRun:
        """A GitHub Actions run on ``head`` (a SHA or branch), with its check suite and one
        check run per job. Each job: ``{"name", "conclusion", "status", "log": bytes|str,
        "steps": [name | {"name", "conclusion"}], "annotations": [...], "output": {...}}``;
        missing conclusions take the run's. A log without timestamps gets them."""
        with self.state.lock:
            repo = self._repo(full_name)
            sha = self._sha(repo, head)
            branch = head_branch or (head if repo.head(head) else branch_of(repo, sha))
            specs = [dict(j) for j in (jobs or [{"name": "build"}])]
            for spec in specs:
                spec.setdefault("status", status)
                spec.setdefault("conclusion", conclusion)
            title = self.state.store.commits[sha].message.split("\n", 1)[0]
            for pull in repo.pulls.values():
                if event.startswith("pull_request") and pull.last_head == sha:
                    title = repo.issues[pull.number].title
            return new_workflow_run(self.state, repo, sha, branch, name=name, path=path,
                                    event=event, actor=actor, display_title=title, jobs=specs)

    def add_check_run(self, full_name: str, head: str, name: str, *,
                      conclusion: str | None = "success", status: str = "completed",
                      app_slug: str = ACTIONS_SLUG, output: dict[str, Any] | None = None,
                      annotations: list[dict[str, Any]] | None = None,
                      job_log: bytes | str | None = None, details_url: str | None = None,
                      head_branch: str | None = None) -> CheckRun:
        """One check run. From GitHub Actions (the default app) it is a job, so it comes with
        a one-job workflow run named after it; from another app it joins that app's suite."""
        with self.state.lock:
            if app_slug == ACTIONS_SLUG:
                job: dict[str, Any] = {"name": name, "conclusion": conclusion,
                                       "status": status, "output": output}
                if job_log is not None:
                    job["log"] = job_log
                if annotations is not None:
                    job["annotations"] = annotations
                run = self.add_workflow_run(full_name, head, head_branch, name=name,
                                            conclusion=conclusion or "success",
                                            status=status, jobs=[job])
                return self.state.ci.check_runs[run.job_ids[0]]
            repo = self._repo(full_name)
            sha = self._sha(repo, head)
            suite = suite_for(self.state, repo, sha, head_branch or branch_of(repo, sha),
                              app_slug)
            return new_check_run(self.state, repo, suite, name, status=status,
                                 conclusion=conclusion, started_at=None, completed_at=None,
                                 output=output, annotations=annotations or [],
                                 details_url=details_url)

    def workflow_runs(self, full_name: str) -> list[WorkflowRun]:
        with self.state.lock:
            return [r for r in self.state.ci.workflow_runs.values()
                    if r.repo.lower() == full_name.lower()]

    @property
    def log_host_requests(self) -> list[LogRequest]:
        """Every request the job-log host received, with its headers."""
        return self.logs.requests

    # -- code scanning -------------------------------------------------------------------------
    def set_security_events(self, full_name: str, level: str | None = "write") -> None:
        """What the token may do with code scanning here: "write", "read" or None (403)."""
        with self.state.lock:
            self.state.ci.scan(self._repo(full_name).full_name).security_events = level

    def sarif_uploads(self, full_name: str) -> list[Any]:
        """The decoded SARIF logs uploaded to the repository, oldest first."""
        with self.state.lock:
            return [u.document for u in self.state.ci.scan(full_name).uploads]

    def code_scanning_alerts(self, full_name: str) -> list[Alert]:
        with self.state.lock:
            return list(self.state.ci.scan(full_name).alerts)

    # -- pull requests -------------------------------------------------------------------------
    def close_pull(self, full_name: str, number: int, *, merged: bool = False,
                   by: str = "octocat") -> Pull:
        """Close a pull request; ``merged`` makes a merge commit on the base branch first."""
        with self.state.lock:
            repo = self._repo(full_name)
            pull, issue = repo.pulls[number], repo.issues[number]
            if merged:
                store = self.state.store
                base_sha, head_sha = self.state.pull_shas(repo, pull)
                merge_base = store.merge_base(base_sha, head_sha)
                files = [store.files_at(store.commits[c].tree) if c else {}
                         for c in (merge_base, base_sha, head_sha)]
                tree = store.tree_from_files(_merged_files(*files))
                sig = self.state.signature(by)
                message = f"Merge pull request #{number} from {pull.head_ref}\n\n{issue.title}"
                commit = store.put_commit(tree, [base_sha, head_sha], message, sig, sig)
                repo.refs[f"refs/heads/{pull.base_ref}"] = commit.sha
                pull.merged, pull.merge_commit_sha, pull.merged_by = True, commit.sha, by
                pull.merged_base = base_sha
            issue.state, issue.closed_at = "closed", now_iso()
            issue.updated_at = issue.closed_at
            return pull
