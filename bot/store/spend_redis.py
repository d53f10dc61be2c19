"""This month's spend per repository in Redis, shared by every machine that runs workers.

The ledger's SQLite file is per data directory, so with workers on several machines each would
see only its own calls and a repository could spend its monthly budget once per machine. When
``REDIS_URL`` is set, every call is also added to one hash per repository and month, and the
budget check and ``/cost`` read that. The calls themselves (for ``/metrics`` and debugging) stay
in each machine's ledger.

Layout: ``<prefix>spend:<repo>:<YYYY-MM>`` hash; fields ``cost|calls|in|out <TAB> phase <TAB>
model``; it expires 62 days after its last write, when no budget can ask for it any more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.ledger import Call

KEEP_S = 62 * 86400
_SEP = "\t"


def month_of(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m")


class RedisSpend:
    def __init__(self, url: str, prefix: str = "model-routing:") -> None:
        import redis  # only when Redis is configured

        self.prefix = prefix
        self._redis: Any = redis.Redis.from_url(url, health_check_interval=30)

    def _key(self, repo: str, month: str) -> str:
        return f"{self.prefix}spend:{repo}:{month}"

    def add(self, call: Call, at: float) -> None:
        """One round trip: the four counters and the expiry, in one MULTI."""
        key, field = self._key(call.repo, month_of(at)), f"{call.phase}{_SEP}{call.model}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrbyfloat(key, f"cost{_SEP}{field}", call.cost_usd)
        pipe.hincrby(key, f"calls{_SEP}{field}", 1)
        pipe.hincrby(key, f"in{_SEP}{field}", call.tokens_in)
        pipe.hincrby(key, f"out{_SEP}{field}", call.tokens_out)
        pipe.expire(key, KEEP_S)
        pipe.execute()

    def by_phase_model(self, repo: str, at: float) -> list[dict[str, Any]]:
        """The month's rows in the ledger's shape (``Ledger.cost_by_phase_model``)."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        names = {"cost": "cost_usd", "calls": "calls", "in": "tokens_in", "out": "tokens_out"}
        for raw, value in self._redis.hgetall(self._key(repo, month_of(at))).items():
            kind, phase, model = raw.decode().split(_SEP, 2)
            row = rows.setdefault((phase, model), {"phase": phase, "model": model, "calls": 0,
                                                   "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0})
            row[names[kind]] = float(value) if kind == "cost" else int(value)
        return sorted(rows.values(), key=lambda r: r["cost_usd"], reverse=True)

    def month_total(self, repo: str, at: float) -> float:
        return float(sum(row["cost_usd"] for row in self.by_phase_model(repo, at)))

    def close(self) -> None:
        self._redis.close()
