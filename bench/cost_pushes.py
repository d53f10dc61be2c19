"""bench/cost, pushes: a push of 3 files to each large pull request, reviewed with and without
incremental reviews (``run_pushes``, ``push_tables``, ``PUSH_NOTES``)."""

from __future__ import annotations

import time
from typing import Any

from common import SCRATCH, fmt, table, target_row  # noqa: F401

OUT = SCRATCH / "cost"


def run_pushes(github: Any, llm: Any, scale: float, routed: Any, pr_lines: tuple[int, ...],
               repo_files: int) -> list[dict[str, Any]]:
    """A `synchronize` for each large pull request of the replay set, routed. The pull request
    is opened again as a twin (the same change on its own branch) and reviewed for real, so the
    push has a review to build on; then 3 of its files get 5 lines each, and the push's review is
    run in dry run three ways: incremental with the provider's cache as the first review left it,
    without incremental reviews (the whole change again), and incremental after the cache is
    cleared (a miss)."""
    import bench_llm
    import scenario

    from tests.fakes.github_events import pull_request_synchronize

    whole = routed.model_copy(update={"triggers": routed.triggers.model_copy(update={"incremental_review": False})})
    base = scenario.repo_files(repo_files)
    root = OUT / f"pushes-{int(time.time())}"
    rows: list[dict[str, Any]] = []
    for i, lines in enumerate(pr_lines):
        lines = max(10, int(lines * scale))
        n_files = max(2, min(3_000, lines // 100))
        if not (lines >= 1_000 or n_files >= 30):  # a small pull request's push starts no review
            continue
        change = scenario.pr_change(base, n_files, lines, seed=i + 1)
        branch = f"feature/pr-{i}-pushed"
        pull = github.open_pull(scenario.REPO_NAME, branch, change, title=f"Change {i}: {lines:,} lines, pushed to",
                                body=bench_llm.prose(200 + i, 600), user=scenario.WRITER)

        def priced(name: str, config: Any, event: dict[str, Any], dry: bool, i: int = i) -> dict[str, Any]:
            return scenario.run_priced(f"pr{i} {name}", root, github, config, "pull_request", event, dry)

        first = priced("first", routed, scenario.opened_event(github, scenario.REPO_NAME, pull), False)
        before = github.state.repo(scenario.REPO_NAME).head(branch)
        scenario.push_three(github, scenario.REPO_NAME, branch, change, f"pr{i}")
        push = pull_request_synchronize(github, scenario.REPO_NAME, pull.number, before)
        hit = priced("incremental", routed, push, True)
        full = priced("whole", whole, push, True)
        llm.clear_cache()
        miss = priced("incremental, cache cleared", routed, push, True)
        rows.append({"kind": f"PR {lines:,} lines, {n_files:,} files", "first": first, "hit": hit, "miss": miss,
                     "whole": full})
        print(f"push to PR {lines:,} lines: first ${first['usd']:.4f}; push ${hit['usd']:.4f} incremental "
              f"(${miss['usd']:.4f} cache cleared), ${full['usd']:.4f} without", flush=True)
    return rows


PUSH_NOTES = [
    "Pushes: the first review of a pull request whose prompt needs more than 1M tokens escalates to the "
    "10M window of vertex_ai/meta/llama-4-scout-17b-16e-instruct-maas ($0.25/M, no prompt caching); a push's "
    "review is small and goes to gemini/gemini-3.1-pro-preview ($2/M): its reference is capped at "
    "limits.delta_reference_share (0.2) of the first review's cost, the push's own diffs, files and the "
    "pull request's file list are not, which is why a push costs 37% of the cheap first review of the "
    "40,000-line pull request and at most 26% of the others'. A first push also misses the cache when the "
    "cap cuts the tree the first review showed whole (the 1,000-line pull request in a 4,000-file repository).",
]


def push_tables(routed: dict[str, Any], pushes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def cell(r: dict[str, Any]) -> str:
        cached = f", {r['tokens_cached']:,} cached" if r["tokens_cached"] else ""
        return f"${r['usd']:.4f} ({r['tokens_in']:,} in{cached})"

    rows = [[p["kind"], cell(p["first"]), cell(p["hit"]), cell(p["miss"]), cell(p["whole"]),
             f"{100 * p['hit']['usd'] / p['whole']['usd']:.1f}%" if p["whole"]["usd"] else "n/a"] for p in pushes]
    with_hits = sum(p["hit"]["usd"] for p in pushes)
    with_misses = sum(p["miss"]["usd"] for p in pushes)
    without = sum(p["whole"]["usd"] for p in pushes)
    total = routed["usd"]
    return [
        table(f"Pushes: one `synchronize` (3 files, 5 lines each) after each of the {len(pushes)} large pull "
              "requests' first review, routed", ["pull request", "first review", "push, incremental",
                                                 "push, incremental, cache cleared", "push, without incremental",
                                                 "incremental / without"], rows),
        table(f"Routed cost of the replay set with the {len(pushes)} synchronize events",
              ["reviews of a push", "the pushes", "replay set + pushes"],
              [["incremental (the provider's cache as the first review left it)", f"${with_hits:,.2f}",
                f"${total + with_hits:,.2f}"],
               ["incremental, every cache missed", f"${with_misses:,.2f}", f"${total + with_misses:,.2f}"],
               ["without incremental reviews (the whole change again)", f"${without:,.2f}",
                f"${total + without:,.2f}"]]),
    ]

