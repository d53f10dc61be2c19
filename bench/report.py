"""Renders bench/RESULTS.md from bench/results/*.json (one file per benchmark).

Kept apart from the benchmarks so that each of them can be re-run alone and the page still shows
every figure, each next to its target and anchor, and one line of the targets not met yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ORDER = ("ingress", "large_pr", "cost", "incremental", "startup", "first_write", "tokens")

INTRO = """# Benchmarks

Run by hand, never in CI: `bench/run` runs them all (about 15 minutes on 2 cores) and rewrites
this page; `bench/<name>` runs one and rewrites only its section. Each benchmark measures its
anchor in the same run, because absolute times on these shared machines drift; figures are
medians of the runs stated. Raw figures per run are in `bench/results/<name>.json`.
"""


def _load() -> list[dict[str, Any]]:
    found = {p.stem: json.loads(p.read_text()) for p in (BENCH / "results").glob("*.json")}
    names = [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)
    return [found[n] for n in names]


def _md_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _status(met: bool | None) -> str:
    return {True: "met", False: "**NOT MET**", None: "not measured"}[met]


def _machine_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (f"{m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
            f"Python {m['python']}")


def render() -> str:
    results = _load()
    out = [INTRO]
    if not results:
        out.append("No benchmark has been run yet.\n")
    else:
        machines = sorted({_machine_line(r) for r in results})
        out.append("## Machine\n")
        out += [f"- {m}" for m in machines]
        merged: dict[str, str] = {}
        for r in results:
            merged.update(r["versions"])
        out.append("\nVersions: " + ", ".join(f"{k} {v}" for k, v in sorted(merged.items())) + "\n")

        out.append("## Summary\n")
        rows = [[r["title"], t["target"], t["measured"], _status(t["met"])]
                for r in results for t in r["targets"]]
        out += _md_table(["benchmark", "target", "measured (median)", "status"], rows)
        missed = [f"{r['name']}: {t['target']} ({t['why'] or 'see its section'})"
                  for r in results for t in r["targets"] if t["met"] is not True]
        out.append("")
        out.append("**Targets not met yet:** " + ("; ".join(missed) if missed else "none") + ".\n")

        for r in results:
            out.append(f"## {r['title']}\n")
            out.append(f"Command: `{r['command']}` — run {r['when']}, {r['runs']} run(s) per figure, "
                       f"medians shown. Machine: {_machine_line(r)}.\n")
            for t in r["tables"]:
                if t.get("caption"):
                    out.append(t["caption"] + "\n")
                out += _md_table(t["columns"], t["rows"])
                out.append("")
            for t in r["targets"]:
                line = f"- Target: {t['target']} — measured {t['measured']}: {_status(t['met'])}"
                out.append(line + (f" ({t['why']})" if t["why"] else ""))
            if r["notes"]:
                out.append("")
                out += [f"- {n}" for n in r["notes"]]
            out.append("")
    text = "\n".join(out).rstrip() + "\n"
    (BENCH / "RESULTS.md").write_text(text)
    return text


if __name__ == "__main__":
    render()
