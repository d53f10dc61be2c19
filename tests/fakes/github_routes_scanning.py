"""Code scanning: SARIF uploads, their processing status, and the alerts they produce.

Every route needs the ``security_events`` permission, switched per repository with
``FakeGitHub.set_security_events``: without it GitHub answers 403 "Resource not accessible by
integration", and so does the fake (writing needs "write", reading "read" or more).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.fakes.github_http import Call, HttpError, Reply, Routes, paginate
from tests.fakes.github_routes_repo import repo_or_404
from tests.fakes.github_scanning import SarifRejected, decode, github_errors, ingest, schema_errors
from tests.fakes.github_shapes import WEB, error
from tests.fakes.github_state import Repo, now_iso
from tests.fakes.github_state_ci import Alert, SarifUpload, ScanningRepo

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

DOCS = "https://docs.github.com/rest/code-scanning/code-scanning"
UPLOAD = "code-scanning/upload-sarif"


def _allowed(b: Backend, call: Call, need: str) -> tuple[Repo, ScanningRepo]:
    repo = repo_or_404(b.state, call)
    scan = b.state.ci.scan(repo.full_name)
    if scan.security_events not in (("write",) if need == "write" else ("read", "write")):
        raise HttpError(403, error("Resource not accessible by integration", 403, DOCS))
    return repo, scan


def upload_sarif(b: Backend, call: Call) -> Reply:
    repo, scan = _allowed(b, call, "write")
    try:
        document = decode(call.field("sarif"))
    except SarifRejected as exc:
        b.record_violation("sarif", call, UPLOAD, [str(exc)])
        raise HttpError(exc.status, error(str(exc), exc.status, DOCS)) from None
    commit_sha, ref = str(call.field("commit_sha")), str(call.field("ref"))
    upload = SarifUpload(str(uuid.uuid4()), repo.full_name, commit_sha, ref, document,
                         now_iso())
    if commit_sha not in b.state.store.commits:
        upload.errors.append(f"commit_sha {commit_sha} is not a commit of {repo.full_name}")
    upload.errors += schema_errors(document)
    if not upload.errors:
        upload.errors += github_errors(document)
    scan.uploads.append(upload)
    if upload.errors:
        b.record_violation("sarif", call, UPLOAD, upload.errors)
    else:
        ingest(scan, upload, call.field("checkout_uri"))
    url = f"{call.base_url}/repos/{repo.full_name}/code-scanning/sarifs/{upload.id}"
    return Reply(202, {"id": upload.id, "url": url})


def get_sarif(b: Backend, call: Call) -> Reply:
    repo, scan = _allowed(b, call, "read")
    upload = next((u for u in scan.uploads if u.id == call.params["sarif_id"]), None)
    if upload is None:
        raise HttpError(404, error("Not Found", 404, DOCS))
    if upload.errors:
        return Reply(200, {"processing_status": "failed", "analyses_url": None,
                           "errors": list(upload.errors)})
    analyses = f"{call.base_url}/repos/{repo.full_name}/code-scanning/analyses"
    return Reply(200, {"processing_status": "complete",
                       "analyses_url": f"{analyses}?sarif_id={upload.id}"})


def _full_ref(repo: Repo, ref: str | None) -> str:
    ref = ref or repo.default_branch
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def alert_body(api: str, repo: Repo, alert: Alert, ref: str) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/code-scanning/alerts/{alert.number}"
    i = alert.instances[ref]
    return {
        "number": alert.number, "created_at": alert.created_at,
        "updated_at": alert.updated_at, "url": url,
        "html_url": f"{WEB}/{repo.full_name}/security/code-scanning/{alert.number}",
        "instances_url": f"{url}/instances", "state": i.state,
        "fixed_at": alert.fixed_at if i.state == "fixed" else None,
        "dismissed_by": None, "dismissed_at": None, "dismissed_reason": None,
        "dismissed_comment": None, "rule": dict(alert.rule), "tool": dict(alert.tool),
        "most_recent_instance": {
            "ref": i.ref, "analysis_key": i.category, "environment": "{}",
            "category": i.category, "state": i.state, "commit_sha": i.commit_sha,
            "message": {"text": i.message},
            "location": {"path": i.path, "start_line": i.start_line, "end_line": i.end_line,
                         **({"start_column": i.start_column} if i.start_column else {}),
                         **({"end_column": i.end_column} if i.end_column else {})},
            "classifications": [],
        },
    }


def list_alerts(b: Backend, call: Call) -> Reply:
    repo, scan = _allowed(b, call, "read")
    if all(u.errors for u in scan.uploads):  # no upload, or none that processed
        raise HttpError(404, error("no analysis found", 404, DOCS))
    ref = _full_ref(repo, call.query.get("ref"))
    q = call.query
    found = [a for a in scan.alerts if ref in a.instances
             and q.get("state") in (None, a.instances[ref].state)
             and q.get("tool_name") in (None, a.tool["name"])
             and q.get("tool_guid") in (None, a.tool["guid"])]
    field = "updated_at" if q.get("sort") == "updated" else "created_at"
    found.sort(key=lambda a: (getattr(a, field), a.number),
               reverse=q.get("direction", "desc") == "desc")
    return paginate(call, found, lambda a: alert_body(call.base_url, repo, a, ref))


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}/code-scanning"
    routes.add("POST", base + "/sarifs", upload_sarif)
    routes.add("GET", base + "/sarifs/{sarif_id}", get_sarif)
    routes.add("GET", base + "/alerts", list_alerts)
