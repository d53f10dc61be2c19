"""The Action passes the field's own auditors, offline: zizmor finds nothing of high severity in
``action.yml`` or in the workflows the docs tell users to copy (README.md and docs/action.md,
extracted from their YAML blocks), and check-jsonschema accepts them against GitHub's schemas
for actions and workflows. The auditors are the pinned ones of the test extras."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCS = ("README.md", "docs/action.md")
YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.DOTALL | re.MULTILINE)
PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
EXIT_HIGH = 14  # zizmor's exit code when its worst finding is of high severity


def documented_workflows() -> dict[str, str]:
    """``<doc>-<n>.yml`` -> the text of each YAML block of the docs that is a whole workflow."""
    found: dict[str, str] = {}
    for doc in DOCS:
        for n, text in enumerate(YAML_BLOCK.findall((ROOT / doc).read_text())):
            data = yaml.safe_load(text)
            # YAML 1.1 reads the key `on` as true
            if isinstance(data, dict) and "jobs" in data and ("on" in data or True in data):
                found[f"{Path(doc).stem.lower()}-{n}.yml"] = text
    return found


def zizmor(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run([str(BIN / "zizmor"), "--offline", "--format", "json", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def high(findings: list[dict[str, Any]]) -> list[str]:
    return [f"{f['ident']}: {f['desc']} at {f['locations'][0]['concrete']['feature'].splitlines()[0]}"
            for f in findings if f["determinations"]["severity"] == "High"]


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def workflows(tmp_path: Path) -> list[Path]:
    out = tmp_path / ".github" / "workflows"
    out.mkdir(parents=True)
    for name, text in documented_workflows().items():
        (out / name).write_text(text)
    return sorted(out.iterdir())


def test_the_docs_show_a_workflow_each_and_pin_the_bot_by_commit_sha(workflows: list[Path]) -> None:
    assert {p.name.split("-")[0] for p in workflows} == {"readme", "action"}
    for path in workflows:
        uses = re.findall(r"uses: (\S+@\S+.*)$", path.read_text(), re.MULTILINE)
        assert uses and all(PINNED.match(u) for u in uses), (path.name, uses)
        text = path.read_text()
        # every trigger zizmor calls dangerous carries the decision and its reason beside it
        if "issue_comment:" in text:
            assert "# zizmor: ignore[dangerous-triggers] commands need write permission" in text
        if "workflow_run:" in text:
            assert "workflow_run:  # zizmor: ignore[dangerous-triggers]" in text
            assert "checks out and runs no\n  # code of the triggering run" in text


def test_zizmor_finds_nothing_high_in_action_yml_or_the_documented_workflows(workflows: list[Path]) -> None:
    code, findings = zizmor(ROOT / "action.yml", *workflows)
    assert high(findings) == [] and code != EXIT_HIGH


def test_check_jsonschema_accepts_action_yml_and_the_documented_workflows(workflows: list[Path]) -> None:
    done = check_jsonschema("vendor.github-actions", ROOT / "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    done = check_jsonschema("vendor.github-workflows", *workflows)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_audit_fails_on_a_tag_pin_and_an_unexplained_trigger(tmp_path: Path, workflows: list[Path]) -> None:
    """The checks can fail: the same files with the pins and the decision taken out."""
    action = tmp_path / "action.yml"
    action.write_text(re.sub(r"@[0-9a-f]{40} # (v\d+)[.\d]*", r"@\1", (ROOT / "action.yml").read_text()))
    workflow = tmp_path / "unpinned.yml"
    workflow.write_text(re.sub(r"  # zizmor: ignore\[dangerous-triggers\].*", "", workflows[0].read_text()))

    code, findings = zizmor(action, workflow)

    assert code == EXIT_HIGH
    assert {f.split(":")[0] for f in high(findings)} == {"unpinned-uses", "dangerous-triggers"}
