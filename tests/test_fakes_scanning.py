"""The fake GitHub's code scanning, driven over HTTP with a real tool's SARIF.

The SARIF logs come from ruff (``--output-format sarif``) run on the same files the fake
repository holds, gzip-compressed and Base64-encoded as GitHub asks. The fake checks each log
against the official SARIF 2.1.0 JSON Schema and turns results into alerts the way GitHub does:
the same findings uploaded again open no new alerts, a finding that disappears is fixed, and
without the ``security_events`` permission the upload is a 403.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from githubkit import GitHub

from tests import direct
from tests.direct import require_description, run
from tests.fakes.fixtures import require, sarif_schema_path
from tests.fakes.github import FakeGitHub

REPO = "acme/widgets"
OWNER, NAME = REPO.split("/")
R = (OWNER, NAME)
AGENT = "fakes-scanning-tests"
APP = "import os\nimport sys\n\n\ndef check(value):\n    if value == None:\n        return 1\n" \
      "    return sys.maxsize\n"


@pytest.fixture(autouse=True)
def _fixtures(github: FakeGitHub) -> None:
    require(sarif_schema_path(), "the SARIF 2.1.0 JSON Schema")
    require_description(github)


def client(github: FakeGitHub) -> GitHub[Any]:
    return direct.client(github, AGENT)



def failure(call: Awaitable[Any]) -> httpx.Response:
    return direct.refusal(call).response.raw_response


def ruff_sarif(workdir: Path, files: dict[str, str]) -> dict[str, Any]:
    """ruff's own SARIF for ``files``, checked out in ``workdir``."""
    for path, text in files.items():
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).write_text(text)
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
                           "--select", "F401,E711", "--output-format", "sarif", "--exit-zero",
                           "."], cwd=workdir, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def with_fingerprints(document: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """What an uploader adds (github/codeql-action's upload-sarif does it for tools that do
    not): a hash of each result's line, so a finding is still known after its line moves."""
    for result in document["runs"][0]["results"]:
        where = result["locations"][0]["physicalLocation"]
        path = Path(where["artifactLocation"]["uri"].removeprefix("file://"))
        line = path.read_text().splitlines()[where["region"]["startLine"] - 1]
        digest = hashlib.sha256(line.strip().encode()).hexdigest()[:16]
        result["partialFingerprints"] = {"primaryLocationLineHash": f"{digest}:1"}
    return document


def pack(document: Any) -> str:
    return base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()


@pytest.fixture
def repo(github: FakeGitHub) -> str:
    github.create_repo(REPO, {"src/app.py": APP})
    github.set_security_events(REPO, "write")
    return REPO


def upload(github: FakeGitHub, tmp: Path, document: Any, ref: str = "refs/heads/main",
           sha: str | None = None) -> Any:
    gh = client(github)
    commit = sha or github.state.repo(REPO).head(ref.removeprefix("refs/heads/"))
    answer = run(gh.rest.code_scanning.async_upload_sarif(
        *R, commit_sha=commit, ref=ref, sarif=pack(document), checkout_uri=tmp.as_uri() + "/"))
    assert answer.status_code == 202
    return answer.parsed_data


def alerts(github: FakeGitHub, **query: Any) -> list[Any]:
    gh = client(github)
    return list(run(gh.rest.code_scanning.async_list_alerts_for_repo(*R, **query)).parsed_data)


def test_an_upload_is_processed_into_alerts(github: FakeGitHub, repo: str,
                                            tmp_path: Path) -> None:
    document = ruff_sarif(tmp_path, {"src/app.py": APP})
    receipt = upload(github, tmp_path, document)
    assert receipt.url.endswith(f"/code-scanning/sarifs/{receipt.id}")
    gh = client(github)
    status = run(gh.rest.code_scanning.async_get_sarif(*R, receipt.id)).parsed_data
    assert status.processing_status == "complete" and status.analyses_url
    assert github.sarif_uploads(REPO) == [document]

    found = sorted(alerts(github), key=lambda a: a.number)
    assert [(a.rule.id, a.state, a.most_recent_instance.location.path,
             a.most_recent_instance.location.start_line) for a in found] == [
        ("F401", "open", "src/app.py", 1), ("E711", "open", "src/app.py", 6)]
    assert found[0].tool.name == "ruff" and found[0].rule.severity == "error"
    assert found[0].most_recent_instance.message.text == "`os` imported but unused"
    assert found[0].most_recent_instance.ref == "refs/heads/main"
    assert not github.violations


def test_the_same_findings_uploaded_again_open_no_new_alerts(
        github: FakeGitHub, repo: str, tmp_path: Path) -> None:
    document = ruff_sarif(tmp_path, {"src/app.py": APP})
    upload(github, tmp_path, document)
    upload(github, tmp_path, document)
    assert len(github.sarif_uploads(REPO)) == 2
    assert [a.number for a in alerts(github)] == [2, 1]  # newest first

    # the findings move two lines down: without fingerprints GitHub cannot tell them apart
    moved = "\n\n" + APP
    sha = github.commit(REPO, "main", {"src/app.py": moved}, message="Two blank lines")
    upload(github, tmp_path, ruff_sarif(tmp_path, {"src/app.py": moved}), sha=sha)
    assert sorted((a.number, a.state) for a in alerts(github)) == [
        (1, "fixed"), (2, "fixed"), (3, "open"), (4, "open")]
    assert not github.violations


def test_fingerprints_follow_a_finding_when_its_line_moves(
        github: FakeGitHub, repo: str, tmp_path: Path) -> None:
    upload(github, tmp_path, with_fingerprints(ruff_sarif(tmp_path, {"src/app.py": APP}),
                                               tmp_path))
    moved = "\n\n" + APP
    sha = github.commit(REPO, "main", {"src/app.py": moved}, message="Two blank lines")
    upload(github, tmp_path, with_fingerprints(ruff_sarif(tmp_path, {"src/app.py": moved}),
                                               tmp_path), sha=sha)
    found = sorted(alerts(github), key=lambda a: a.number)
    assert [(a.number, a.state, a.most_recent_instance.location.start_line,
             a.most_recent_instance.commit_sha) for a in found] == [
        (1, "open", 3, sha), (2, "open", 8, sha)]
    assert not github.violations


def test_a_finding_that_is_gone_is_fixed_and_refs_keep_their_own_instances(
        github: FakeGitHub, repo: str, tmp_path: Path) -> None:
    def scan(text: str) -> dict[str, Any]:
        return with_fingerprints(ruff_sarif(tmp_path, {"src/app.py": text}), tmp_path)

    upload(github, tmp_path, scan(APP))
    cleaned = APP.replace("import os\n", "")
    pull = github.open_pull(REPO, "cleanup", {"src/app.py": cleaned})
    head = github.state.repo(REPO).head("cleanup")
    upload(github, tmp_path, scan(cleaned), ref=f"refs/pull/{pull.number}/head", sha=head)
    on_pull = alerts(github, ref=f"refs/pull/{pull.number}/head")
    assert [(a.number, a.rule.id, a.most_recent_instance.location.start_line)
            for a in on_pull] == [(2, "E711", 5)]  # the same alert, seen on the pull request
    assert {a.state for a in alerts(github)} == {"open"}  # main still has both findings

    github.commit(REPO, "main", {"src/app.py": cleaned}, message="Drop os")
    upload(github, tmp_path, scan(cleaned))
    fixed = alerts(github, state="fixed")
    assert [a.rule.id for a in fixed] == ["F401"] and fixed[0].fixed_at is not None
    assert [a.number for a in alerts(github, state="open")] == [2]
    assert not github.violations


def test_alerts_paginate(github: FakeGitHub, repo: str, tmp_path: Path) -> None:
    many = "".join(f"import mod{i:02}\n" for i in range(60))
    sha = github.commit(REPO, "main", {"src/many.py": many}, message="Imports")
    upload(github, tmp_path, ruff_sarif(tmp_path, {"src/app.py": APP, "src/many.py": many}),
           sha=sha)
    gh = client(github)
    page = run(gh.rest.code_scanning.async_list_alerts_for_repo(*R, per_page=25))
    assert len(page.parsed_data) == 25 and 'rel="next"' in page.headers["link"]
    pages: Any = gh.rest.paginate(gh.rest.code_scanning.async_list_alerts_for_repo,
                                  owner=OWNER, repo=NAME, per_page=25)

    async def every() -> list[Any]:
        return [a async for a in pages]

    assert len({a.number for a in run(every())}) == 62
    assert not github.violations


def test_without_security_events_the_upload_is_403(github: FakeGitHub, tmp_path: Path) -> None:
    github.create_repo(REPO, {"src/app.py": APP})
    document = ruff_sarif(tmp_path, {"src/app.py": APP})
    gh = client(github)
    sha = github.state.repo(REPO).head("main")

    def try_upload() -> httpx.Response:
        return failure(gh.rest.code_scanning.async_upload_sarif(
            *R, commit_sha=sha, ref="refs/heads/main", sarif=pack(document)))

    refused = try_upload()
    assert refused.status_code == 403
    assert refused.json()["message"] == "Resource not accessible by integration"
    assert failure(gh.rest.code_scanning.async_list_alerts_for_repo(*R)).status_code == 403
    github.set_security_events(REPO, "read")
    assert try_upload().status_code == 403
    nothing = failure(gh.rest.code_scanning.async_list_alerts_for_repo(*R))
    assert (nothing.status_code, nothing.json()["message"]) == (404, "no analysis found")
    assert github.sarif_uploads(REPO) == [] and not github.violations


def test_a_sarif_field_that_is_not_gzip_and_base64_is_400(
        github: FakeGitHub, repo: str) -> None:
    gh = client(github)
    sha = github.state.repo(REPO).head("main")
    plain = base64.b64encode(json.dumps({"version": "2.1.0", "runs": []}).encode()).decode()
    for sarif, problem in [("%%% not base64 %%%", "not valid Base64"),
                           (plain, "not gzip-compressed")]:
        answer = failure(gh.rest.code_scanning.async_upload_sarif(
            *R, commit_sha=sha, ref="refs/heads/main", sarif=sarif))
        assert answer.status_code == 400 and problem in answer.json()["message"]
    assert [v.kind for v in github.violations] == ["sarif", "sarif"]
    github.violations.clear()  # sent on purpose
    assert github.sarif_uploads(REPO) == []


def test_a_log_that_breaks_the_sarif_schema_fails_processing(
        github: FakeGitHub, repo: str, tmp_path: Path) -> None:
    document = ruff_sarif(tmp_path, {"src/app.py": APP})
    document["version"] = "2.0.0"
    document["runs"][0]["results"][0]["level"] = "fatal"
    receipt = upload(github, tmp_path, document)  # accepted: GitHub processes it later
    gh = client(github)
    status = run(gh.rest.code_scanning.async_get_sarif(*R, receipt.id)).parsed_data
    assert status.processing_status == "failed"
    assert any(e.startswith("version: '2.0.0' is not one of") for e in status.errors)
    assert any("runs/0/results/0/level" in e for e in status.errors)
    [violation] = github.violations
    assert violation.kind == "sarif" and violation.problems == status.errors
    github.violations.clear()  # sent on purpose: a bot's bad SARIF fails its test
    # a failed upload is no analysis: there is still nothing to list
    assert failure(gh.rest.code_scanning.async_list_alerts_for_repo(*R)).status_code == 404
    assert failure(gh.rest.code_scanning.async_get_sarif(*R, "no-such-id")).status_code == 404
