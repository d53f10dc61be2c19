"""The session's conformance summary, printed by tests/conftest.py after the test results.

It shows what issue "conformance" asks to see: the GitHub operations the bot used and whether
every request and response fitted GitHub's OpenAPI description, how many response schemas were
checked, the example webhook payloads dispatched per event, and the deliberately wrong requests
the fake refused.
"""

from __future__ import annotations

import textwrap

from tests.fakes.github_server import Backend


def summary_lines(backend: Backend) -> list[str]:
    stats = backend.stats
    if backend.openapi is None:
        return ["GitHub's OpenAPI description was not loaded: requests and responses were NOT "
                "checked (run `bash .ci/fetch-github-fixtures`)"]
    lines = [f"checked against GitHub's OpenAPI description {backend.openapi.version} "
             "(@octokit/openapi)"]
    bot_total = sum(stats.by_bot.values())
    lines.append(f"operations used by the bot: {len(stats.by_bot)} operations, "
                 f"{bot_total} requests")
    lines += [f"    {op:<48} {n:>6}" for op, n in sorted(stats.by_bot.items())]
    others = sorted(set(stats.requests) - set(stats.by_bot))
    if others:
        lines.append(f"{len(others)} more operations called only by the tests, not by the bot:")
        lines += textwrap.wrap(", ".join(others), 96, break_on_hyphens=False, initial_indent="    ",
                               subsequent_indent="    ")
    on_purpose = len(stats.deliberate)
    wrong = stats.request_violations - on_purpose
    lines.append(f"requests checked: {sum(stats.requests.values())}, "
                 + ("all conforming" if wrong == 0 else f"{wrong} VIOLATIONS")
                 + (f" (besides the {on_purpose} wrong on purpose)" if on_purpose else ""))
    lines.append(f"responses checked against their operation's schema: "
                 f"{sum(stats.responses.values())} ({len(stats.responses)} operation/status "
                 "pairs), " + ("all conforming" if stats.response_violations == 0
                               else f"{stats.response_violations} VIOLATIONS"))
    if stats.unimplemented:
        lines.append("operations the fake does not implement (answered 404): "
                     + ", ".join(f"{op} x{n}" for op, n in sorted(stats.unimplemented.items())))
    if stats.examples:
        total = sum(n for n, _, _ in stats.examples.values())
        lines.append(f"example payloads (@octokit/webhooks-examples) dispatched without error: "
                     f"{total}")
        lines += [f"    {event:<30} {n:>3} dispatched, {handled:>3} reached a handler, "
                  f"{typed:>3} typed by githubkit, {n - typed:>3} raw payload only"
                  for event, (n, typed, handled) in sorted(stats.examples.items())]
    if stats.deliberate:
        lines.append(f"deliberately wrong requests rejected: {on_purpose}")
        lines += [f"    {line}" for line in stats.deliberate]
    return lines
