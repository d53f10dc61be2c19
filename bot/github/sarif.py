"""Security findings as a SARIF 2.1.0 log for GitHub code scanning, and its upload.

One run, one rule per CWE (its name, a link to MITRE's page, the ``security-severity`` GitHub
ranks alerts by: the worst of the rule's findings), one result per finding with its file and
line. Each result carries a ``partialFingerprints`` entry: a hash of the CWE, the path and the
text of the flagged line (not its number, not the model's wording, which change from run to
run), with a count for the same text twice, as GitHub's own ``primaryLocationLineHash`` does.
Code scanning recognises a result it has seen by its rule, file and fingerprints, so a re-run
on the same or a later commit updates the open alert instead of opening a second one, and a
finding no longer reported on the ref is closed as fixed. That is also why an empty log is
uploaded when nothing is found.

Upload: ``POST /repos/{owner}/{repo}/code-scanning/sarifs`` with the log gzip-compressed and
Base64-encoded, ``commit_sha`` and ``ref`` of the pull request's head. It needs the
``security_events: write`` permission (App) or ``security-events: write`` (Action workflow);
without it GitHub answers 403, which ``refusal`` words for the job summary.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from bot.answers.security_findings import SECURITY_SEVERITIES, SecurityFinding
from bot.github.rest import http_status

if TYPE_CHECKING:
    from bot.github.session import Session

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL = "Model Routing Bot"
DISTRIBUTION = "model-routing-bot"
TOOL_URI = "https://github.com/apps/model-routing-bot"
CATEGORY = "model-routing/security/"  # automationDetails.id: this tool's analyses, apart from others'
FINGERPRINT = "modelRoutingFinding/v1"
SCORE = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}  # GitHub's bands: 9+, 7+, 4+, >0
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# names of the weaknesses a review meets most; any other CWE is named by its number
CWE_NAMES = {
    20: "Improper Input Validation", 22: "Path Traversal", 77: "Command Injection",
    78: "OS Command Injection", 79: "Cross-site Scripting", 89: "SQL Injection", 94: "Code Injection",
    200: "Exposure of Sensitive Information", 269: "Improper Privilege Management",
    284: "Improper Access Control", 285: "Improper Authorization", 287: "Improper Authentication",
    295: "Improper Certificate Validation", 306: "Missing Authentication for Critical Function",
    311: "Missing Encryption of Sensitive Data", 312: "Cleartext Storage of Sensitive Information",
    319: "Cleartext Transmission of Sensitive Information", 327: "Broken or Risky Cryptographic Algorithm",
    330: "Insufficiently Random Values", 345: "Insufficient Verification of Data Authenticity",
    347: "Improper Verification of Cryptographic Signature", 352: "Cross-Site Request Forgery",
    384: "Session Fixation", 400: "Uncontrolled Resource Consumption",
    434: "Unrestricted Upload of File with Dangerous Type", 502: "Deserialization of Untrusted Data",
    522: "Insufficiently Protected Credentials", 532: "Sensitive Information in Log File",
    601: "Open Redirect", 611: "XML External Entity Reference", 613: "Insufficient Session Expiration",
    639: "Authorization Bypass Through User-Controlled Key", 732: "Incorrect Permission Assignment",
    798: "Use of Hard-coded Credentials", 829: "Inclusion of Functionality from Untrusted Control Sphere",
    862: "Missing Authorization", 863: "Incorrect Authorization", 918: "Server-Side Request Forgery",
    1104: "Use of Unmaintained Third Party Components", 1321: "Prototype Pollution",
}


def cwe_number(cwe: str) -> int:
    return int(cwe.removeprefix("CWE-"))


def cwe_name(cwe: str) -> str:
    return CWE_NAMES.get(cwe_number(cwe), f"Weakness {cwe}")


def fingerprints(findings: Sequence[SecurityFinding], line_text: Callable[[str, int | None], str | None]) -> list[str]:
    """A stable fingerprint per finding (see the module's doc)."""
    out: list[str] = []
    seen: Counter[str] = Counter()
    for f in findings:
        text = line_text(f.path, f.line)
        where = " ".join(text.split()) if text is not None else f"line {f.line or 0}"
        digest = hashlib.sha256(f"{f.cwe}\0{f.path}\0{where}".encode()).hexdigest()[:32]
        seen[digest] += 1
        out.append(f"{digest}:{seen[digest]}")
    return out


def _rule(cwe: str, findings: Sequence[SecurityFinding]) -> dict[str, Any]:
    n = cwe_number(cwe)
    worst = min(SECURITY_SEVERITIES.index(f.severity) for f in findings)
    uri = f"https://cwe.mitre.org/data/definitions/{n}.html"
    return {
        "id": cwe, "name": cwe_name(cwe),
        "shortDescription": {"text": f"{cwe}: {cwe_name(cwe)}"},
        "fullDescription": {"text": f"{cwe_name(cwe)} ({cwe}), found by a reasoning model's security review of a pull request."},
        "helpUri": uri,
        "help": {"text": f"See {uri}", "markdown": f"[{cwe}: {cwe_name(cwe)}]({uri})"},
        "defaultConfiguration": {"level": LEVEL[SECURITY_SEVERITIES[worst]]},
        "properties": {"tags": ["security", f"external/cwe/cwe-{n}"], "precision": "medium",
                       "security-severity": SCORE[SECURITY_SEVERITIES[worst]]},
    }


def tool_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def build(findings: Sequence[SecurityFinding], line_text: Callable[[str, int | None], str | None], *,
          clean: Callable[[str], str] = str) -> dict[str, Any]:
    """The SARIF log of ``findings``. ``clean`` is applied to every text a person reads in code
    scanning (the same neutralising as a post: no mentions, no secrets)."""
    by_cwe: dict[str, list[SecurityFinding]] = {}
    for f in findings:
        by_cwe.setdefault(f.cwe, []).append(f)
    rules = [_rule(cwe, listed) for cwe, listed in sorted(by_cwe.items(), key=lambda kv: cwe_number(kv[0]))]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f, fingerprint in zip(findings, fingerprints(findings, line_text), strict=True):
        message = clean(f"{f.title}\n\n{f.scenario}\n\nFix: {f.fix}")
        results.append({
            "ruleId": f.cwe, "ruleIndex": index[f.cwe], "level": LEVEL[f.severity],
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line or 1},
            }}],
            "partialFingerprints": {FINGERPRINT: fingerprint},
            "properties": {"severity": f.severity, "confidence": f.confidence},
        })
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "informationUri": TOOL_URI, "semanticVersion": tool_version(), "rules": rules}},
            "automationDetails": {"id": CATEGORY},
            "results": results,
        }],
    }


def pack(document: dict[str, Any]) -> str:
    """gzip, then Base64: the form the upload's ``sarif`` field takes."""
    return base64.b64encode(gzip.compress(json.dumps(document, separators=(",", ":")).encode())).decode()


async def upload(session: Session, document: dict[str, Any], commit_sha: str, ref: str) -> dict[str, Any]:
    """One upload, never repeated here: a POST that may have landed is not retried blind. Should
    it be repeated all the same (a job run again after a failure), code scanning matches the
    results by fingerprint and opens no second alert."""
    payload = {"commit_sha": commit_sha, "ref": ref, "sarif": pack(document), "tool_name": TOOL}
    return await session.writes.request("POST", f"/repos/{session.repo}/code-scanning/sarifs", payload)


def refusal(exc: BaseException) -> str:
    """Why an upload failed, in words for the job summary and the review."""
    status = http_status(exc)
    message = ""
    if status is not None:
        try:
            message = str(exc.response.json().get("message") or "")  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a non-JSON error body: the status says enough
            message = ""
    said = f"GitHub answered {status}" + (f" ({message})" if message else "") if status else f"{type(exc).__name__}: {exc}"
    if status == 403:
        return (f"{said}: uploading to code scanning needs the `security_events: write` permission "
                "(App) or `security-events: write` in the workflow's `permissions:` (Action)")
    if status == 404:
        return f"{said}: code scanning is not available for this repository"
    return said
