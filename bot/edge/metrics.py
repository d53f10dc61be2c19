"""``GET /metrics``: Prometheus text exposition, built from what is already recorded.

Deliveries come from the delivery store (so the figures are the same whichever process is
asked), jobs and model calls from the ledger, webhook answers and batches from this process.
No client library: the format is a few lines of text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.edge.ingest import Ingest
    from bot.work.services import Services

Labels = Mapping[str, object]


@dataclass
class EdgeMetrics:
    """Counters of this process's webhook answers; touched only on the event loop."""

    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event, result)

    def count(self, event: str | None, result: str) -> None:
        self.answers[(event or "unknown", result)] += 1


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Labels, float]], suffix: str = "") -> None:
        full = name + suffix  # counters are named with their _total, as prometheus_client does
        self.lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
        for labels, value in samples:
            self.sample(full, labels, value)

    def sample(self, name: str, labels: Labels, value: float) -> None:
        inner = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        self.lines.append(f"{name}{{{inner}}} {float(value):g}" if inner else f"{name} {float(value):g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def collect(services: Services, ingest: Ingest, answers: Mapping[tuple[str, str], int]) -> str:
    """Blocking (storage reads): call it from a thread."""
    out = Exposition()
    counts = services.store.counts()
    out.family("model_routing_deliveries", "gauge", "Stored webhook deliveries by event and status.",
               (({"event": e, "status": s}, n) for (e, s), n in sorted(counts.items())))
    out.family("model_routing_webhooks", "counter", "Webhook answers of this process by event and result.",
               (({"event": e, "result": r}, n) for (e, r), n in sorted(answers.items())), "_total")
    out.family("model_routing_ingest_batches", "counter", "Group commits of deliveries by this process.",
               [({}, ingest.batches)], "_total")
    out.family("model_routing_ingest_records", "counter", "Deliveries stored by those group commits.",
               [({}, ingest.records)], "_total")
    out.family("model_routing_queue_pending", "gauge", "Entries waiting in the job queue.",
               [({"backend": services.queue_backend}, services.queue.pending())])
    ran = services.runner.ran if services.runner is not None else {}
    out.family("model_routing_worker_runs", "counter", "Deliveries this process's workers ran, by result.",
               (({"result": r}, n) for r, n in sorted(ran.items())), "_total")
    said = services.runner.failure_comments if services.runner is not None else {}
    out.family("model_routing_failure_comments", "counter",
               "Deliveries given up by this process's workers, by whether the failure comment was posted.",
               (({"result": r}, n) for r, n in sorted(said.items())), "_total")

    totals = services.dispatcher.ledger.totals()
    jobs = totals["jobs"]  # phase, outcome, count, sum(latency)
    out.family("model_routing_jobs", "counter", "Jobs by phase and outcome.",
               (({"phase": p, "outcome": o}, n) for p, o, n, _ in jobs), "_total")
    out.lines += ["# HELP model_routing_job_latency_seconds Job wall time by phase.",
                  "# TYPE model_routing_job_latency_seconds summary"]
    by_phase: dict[str, list[float]] = {}
    for phase, outcome, n, seconds in jobs:
        if outcome == "running":
            continue
        acc = by_phase.setdefault(str(phase), [0.0, 0.0])
        acc[0] += float(seconds or 0)
        acc[1] += float(n or 0)
    for phase, (seconds, n) in sorted(by_phase.items()):
        out.sample("model_routing_job_latency_seconds_sum", {"phase": phase}, seconds)
        out.sample("model_routing_job_latency_seconds_count", {"phase": phase}, n)

    calls = totals["calls"]  # profile, model, outcome, count, tokens_in, tokens_out, cost
    out.family("model_routing_model_calls", "counter", "Model calls by profile, model and outcome.",
               (({"profile": p, "model": m, "outcome": o}, n) for p, m, o, n, *_ in calls), "_total")
    tokens: Counter[tuple[str, str, str]] = Counter()
    cost: dict[tuple[str, str], float] = defaultdict(float)
    for profile, model, _, _, tokens_in, tokens_out, usd in calls:
        tokens[(profile, model, "in")] += int(tokens_in or 0)
        tokens[(profile, model, "out")] += int(tokens_out or 0)
        cost[(profile, model)] += float(usd or 0)
    out.family("model_routing_tokens", "counter", "Tokens by profile, model and direction.",
               (({"profile": p, "model": m, "direction": d}, n) for (p, m, d), n in sorted(tokens.items())),
               "_total")
    out.family("model_routing_cost_usd", "counter", "Model spend in USD by profile and model.",
               (({"profile": p, "model": m}, usd) for (p, m), usd in sorted(cost.items())), "_total")
    return out.text()
