"""Code scanning as GitHub processes a SARIF upload: decode, validate, turn results into alerts.

The ``sarif`` field is a gzip-compressed SARIF log in Base64; one that does not decode is a
400, as GitHub answers. A log that decodes is accepted (202) and processed: it is checked
against the official OASIS SARIF 2.1.0 JSON Schema (fetched by ``.ci/fetch-github-fixtures``)
and the limits GitHub documents; a failure makes the upload's ``processing_status`` "failed"
with the errors, as on GitHub, and the fake records it as a violation so the test fails.

Results become alerts. GitHub recognises a result it has seen before by its rule, its file and
its ``partialFingerprints``, so uploading the same findings again updates the existing alerts
instead of opening new ones; without fingerprints it can only go by the exact location (GitHub
warns that such uploads may show duplicates when code moves). An alert that a later analysis of
the same ref, tool and category no longer reports is marked fixed.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.fixtures import HINT, sarif_schema_path
from tests.fakes.github_state import now_iso
from tests.fakes.github_state_ci import Alert, AlertInstance, SarifUpload, ScanningRepo

MAX_COMPRESSED = 10 * 1024 * 1024  # GitHub refuses SARIF over 10 MB, gzip-compressed
MAX_RUNS = 20  # "Runs per file" in the upload operation's table of limits
MAX_RESULTS = 25_000  # "Results per run"
LEVELS = {"error": "error", "warning": "warning", "note": "note", "none": "none"}


class SarifRejected(Exception):
    """The ``sarif`` field is not a gzip-compressed, Base64-encoded JSON document (400), or
    is too large (413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode(field: object) -> Any:
    if not isinstance(field, str):
        raise SarifRejected("The sarif field must be a Base64 string")
    try:
        packed = base64.b64decode(field.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise SarifRejected("The sarif field is not valid Base64") from None
    if len(packed) > MAX_COMPRESSED:
        raise SarifRejected(f"The SARIF file is over {MAX_COMPRESSED} bytes compressed", 413)
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error):
        raise SarifRejected("The sarif field is not gzip-compressed") from None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SarifRejected(f"The SARIF file is not valid JSON: {exc}") from None


@cache
def _validator(path: str) -> jsonschema.Draft4Validator:
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def schema_errors(document: Any) -> list[str]:
    """Problems against the SARIF 2.1.0 schema; a missing schema is a problem too."""
    path = sarif_schema_path()
    if not path.is_file():
        return [f"the SARIF 2.1.0 JSON Schema is missing at {path}: {HINT}"]
    found = sorted(_validator(str(path)).iter_errors(document), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in found[:20]]


def github_errors(document: dict[str, Any]) -> list[str]:
    """What GitHub refuses beyond the schema: its documented limits, results without text."""
    runs = document.get("runs") or []
    problems = [f"SARIF has {len(runs)} runs, over the limit of {MAX_RUNS}"] \
        if len(runs) > MAX_RUNS else []
    for i, run in enumerate(runs):
        results = run.get("results") or []
        if len(results) > MAX_RESULTS:
            problems.append(f"run {i} has {len(results)} results, over {MAX_RESULTS}")
        for j, result in enumerate(results):
            if not (result.get("message") or {}).get("text"):
                problems.append(f"runs/{i}/results/{j}: a result needs message.text")
    return problems


def _rules(run: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    listed = list(((run.get("tool") or {}).get("driver") or {}).get("rules") or [])
    return {r["id"]: r for r in listed if "id" in r}, listed


def _summary(rule_id: str, rule: dict[str, Any], level: str) -> dict[str, Any]:
    props = rule.get("properties") or {}
    severity = props.get("security-severity")
    band = None
    if severity is not None:
        score = float(severity)
        band = ("critical" if score >= 9 else "high" if score >= 7 else "medium"
                if score >= 4 else "low")
    return {"id": rule_id, "name": rule.get("name") or rule_id, "severity": LEVELS[level],
            "security_severity_level": band,
            "description": (rule.get("shortDescription") or {}).get("text", ""),
            "full_description": (rule.get("fullDescription") or {}).get("text", ""),
            "tags": list(props.get("tags") or []),
            "help": (rule.get("help") or {}).get("text"), "help_uri": rule.get("helpUri")}


def _path(uri: str, checkout_uri: str | None) -> str:
    for prefix in (checkout_uri or "", "file://"):
        if prefix and uri.startswith(prefix):
            uri = uri[len(prefix):]
    return uri.lstrip("/").removeprefix("./")


def ingest(scan: ScanningRepo, upload: SarifUpload, checkout_uri: str | None) -> None:
    stamp = now_iso()
    for run in upload.document.get("runs") or []:
        driver = (run.get("tool") or {}).get("driver") or {}
        tool = {"name": driver.get("name", "API"), "version": driver.get("semanticVersion")
                or driver.get("version"), "guid": driver.get("guid")}
        category = (run.get("automationDetails") or {}).get("id", "")
        by_id, listed = _rules(run)
        seen: set[int] = set()
        for result in run.get("results") or []:
            rule_id = result.get("ruleId") or (result.get("rule") or {}).get("id")
            index = result.get("ruleIndex", (result.get("rule") or {}).get("index", -1))
            rule = by_id.get(rule_id or "") or (listed[index] if 0 <= index < len(listed)
                                                else {})
            rule_id = rule_id or rule.get("id", "")
            physical = ((result.get("locations") or [{}])[0]).get("physicalLocation") or {}
            uri = (physical.get("artifactLocation") or {}).get("uri")
            if not uri:
                continue  # GitHub shows no alert for a result without a location
            region = physical.get("region") or {}
            start = region.get("startLine", 1)
            path = _path(uri, checkout_uri)
            prints = tuple(sorted((result.get("partialFingerprints") or {}).items()))
            key: tuple[Any, ...] = (tool["name"], category, rule_id, path, prints) if prints \
                else (tool["name"], category, rule_id, path, start,
                      region.get("startColumn"), result["message"]["text"])
            level = result.get("level") or (rule.get("defaultConfiguration") or {}).get(
                "level", "warning")
            alert = next((a for a in scan.alerts if a.key == key), None)
            if alert is None:
                alert = Alert(len(scan.alerts) + 1, key, _summary(rule_id, rule, level), tool,
                              stamp, stamp)
                scan.alerts.append(alert)
            alert.updated_at, alert.fixed_at = stamp, None
            alert.instances[upload.ref] = AlertInstance(
                upload.ref, upload.commit_sha, "open", result["message"]["text"], path, start,
                region.get("endLine", start), region.get("startColumn"),
                region.get("endColumn"), category)
            seen.add(alert.number)
        for alert in scan.alerts:  # what this analysis no longer reports is fixed
            instance = alert.instances.get(upload.ref)
            if alert.number in seen or instance is None or instance.state != "open" or \
                    alert.tool["name"] != tool["name"] or instance.category != category:
                continue
            instance.state, instance.commit_sha = "fixed", upload.commit_sha
            alert.fixed_at = alert.updated_at = stamp
