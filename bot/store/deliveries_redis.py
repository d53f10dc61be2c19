"""The delivery store on Redis, for workers on several machines. Same life cycle and the same
redelivery rule (``bot.store.deliveries.applies``) as the SQLite store; each state change is one Lua
script, so it is atomic on the server and a claim is a true compare-and-set between processes.

Layout (``prefix`` defaults to ``model-routing:``):

- ``d:<id>``   hash: event, action, repo, payload, status, attempts, kills, received_at, claim,
  lease_until, finished_at, error (absent field = None)
- ``recheck``  sorted set: id -> recheck_at, for pending and running records only
- ``finished`` sorted set: id -> finished_at, for pruning
- ``counts``   hash: "event<TAB>status" -> number, kept by the scripts (for /metrics)
- ``hold:<key>`` string: the owner of a hold (``bot.store.holds``), expiring with it

Times come from Redis (``TIME``), so leases mean the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.store.deliveries import PENDING, RETENTION_S, Delivery, DeliveryStore, NewDelivery

_LIB = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function count(p, event, status, by)
  redis.call('HINCRBY', p .. 'counts', event .. '\\t' .. status, by)
end
"""

# ARGV: prefix, grace, then (id, event, action, repo, payload, status) per record.
# The same rule as the SQLite UPSERT: a new id is stored; an existing one is overwritten only
# when it failed, or was skipped and now has a handler. Returns 1 per record owed a run.
RECORD = _LIB + """
local p, grace, t = ARGV[1], tonumber(ARGV[2]), now()
local owed = {}
for i = 3, #ARGV, 6 do
  local id, event, action, repo, payload, status =
    ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  local key = p .. 'd:' .. id
  local old = redis.call('HMGET', key, 'status', 'event')
  local write = old[1] == false or old[1] == 'failed' or (old[1] == 'skipped' and status == 'pending')
  if write then
    if old[1] then count(p, old[2], old[1], -1) end
    redis.call('DEL', key)
    redis.call('HSET', key, 'event', event, 'payload', payload, 'status', status,
               'attempts', 0, 'received_at', t)
    if action ~= '' then redis.call('HSET', key, 'action', action) end
    if repo ~= '' then redis.call('HSET', key, 'repo', repo) end
    count(p, event, status, 1)
    if status == 'pending' then
      redis.call('ZADD', p .. 'recheck', t + grace, id)
      redis.call('ZREM', p .. 'finished', id)
    else
      redis.call('HSET', key, 'finished_at', t)
      redis.call('ZREM', p .. 'recheck', id)
      redis.call('ZADD', p .. 'finished', t, id)
    end
  end
  owed[#owed + 1] = (write and status == 'pending') and 1 or 0
end
return owed
"""

# KEYS: record; ARGV: prefix, id, token, lease. pending -> running, or take over an expired lease.
CLAIM = _LIB + """
local p, id, t = ARGV[1], ARGV[2], now()
local s = redis.call('HMGET', KEYS[1], 'status', 'lease_until', 'event')
if not (s[1] == 'pending' or (s[1] == 'running' and tonumber(s[2]) < t)) then return 0 end
local until_ = t + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'status', 'running', 'claim', ARGV[3], 'lease_until', until_)
redis.call('HINCRBY', KEYS[1], s[1] == 'pending' and 'attempts' or 'kills', 1)
redis.call('ZADD', p .. 'recheck', until_, id)
if s[1] == 'pending' then count(p, s[3], 'pending', -1); count(p, s[3], 'running', 1) end
return 1
"""

# KEYS: record; ARGV: prefix, id, token, lease
HEARTBEAT = _LIB + """
local s = redis.call('HMGET', KEYS[1], 'status', 'claim')
if s[1] ~= 'running' or s[2] ~= ARGV[3] then return 0 end
local until_ = now() + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'lease_until', until_)
redis.call('ZADD', ARGV[1] .. 'recheck', until_, ARGV[2])
return 1
"""

# KEYS: record; ARGV: prefix, id, token, new status, error ('' = none), recheck_in and
# interrupted ('1': a shutdown, counted as a kill, not an attempt) for a release
FINISH = _LIB + """
local p, id, status, t = ARGV[1], ARGV[2], ARGV[4], now()
local s = redis.call('HMGET', KEYS[1], 'status', 'claim', 'event')
if s[1] ~= 'running' or s[2] ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], 'claim', 'lease_until', 'error')
redis.call('HSET', KEYS[1], 'status', status)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
if status == 'pending' then
  redis.call('ZADD', p .. 'recheck', t + tonumber(ARGV[6]), id)
  if ARGV[7] == '1' then
    redis.call('HINCRBY', KEYS[1], 'attempts', -1)
    redis.call('HINCRBY', KEYS[1], 'kills', 1)
  end
else
  redis.call('HSET', KEYS[1], 'finished_at', t)
  redis.call('ZREM', p .. 'recheck', id)
  redis.call('ZADD', p .. 'finished', t, id)
end
count(p, s[3], 'running', -1); count(p, s[3], status, 1)
return 1
"""

# ARGV: prefix, grace, limit. Due ids, each pushed `grace` ahead (concurrent reapers).
STALE = _LIB + """
local p, t = ARGV[1], now()
local ids = redis.call('ZRANGEBYSCORE', p .. 'recheck', '-inf', '(' .. t, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', p .. 'recheck', t + tonumber(ARGV[2]), id) end
return ids
"""

# ARGV: prefix, retention
PRUNE = _LIB + """
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. 'finished', '-inf', '(' .. (now() - tonumber(ARGV[2])),
                       'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  local s = redis.call('HMGET', p .. 'd:' .. id, 'status', 'event')
  if s[1] then count(p, s[2], s[1], -1) end
  redis.call('DEL', p .. 'd:' .. id)
  redis.call('ZREM', p .. 'finished', id)
end
return #ids
"""

_FIELDS = ("event", "action", "repo", "payload", "status", "attempts", "received_at", "claim",
           "lease_until", "finished_at", "error", "kills")


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _number(value: bytes | None) -> float | None:
    return None if value is None else float(value)


# KEYS: the hold's key; ARGV: owner, ttl in ms. Taken when free or already the owner's.
HOLD = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
UNHOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisDeliveryStore(DeliveryStore):
    backend = "redis"

    def __init__(self, url: str, grace_s: float = 600.0, prefix: str = "model-routing:") -> None:
        import redis  # only when Redis is configured

        self.grace_s = grace_s
        self.prefix = prefix
        self._redis: Any = redis.Redis.from_url(url, health_check_interval=30)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._record = self._redis.register_script(RECORD)
        self._claim = self._redis.register_script(CLAIM)
        self._heartbeat = self._redis.register_script(HEARTBEAT)
        self._finish = self._redis.register_script(FINISH)
        self._stale = self._redis.register_script(STALE)
        self._prune = self._redis.register_script(PRUNE)
        self._hold = self._redis.register_script(HOLD)
        self._unhold = self._redis.register_script(UNHOLD)

    def _key(self, delivery_id: str) -> str:
        return f"{self.prefix}d:{delivery_id}"

    def record_many(self, records: Sequence[NewDelivery]) -> list[bool]:
        if not records:
            return []
        args: list[Any] = [self.prefix, self.grace_s]
        for rec in records:
            args += [rec.id, rec.event, rec.action or "", rec.repo or "", rec.payload, rec.status]
        # one script, one round trip, atomic: the Redis form of the SQLite batch transaction
        return [bool(flag) for flag in self._record(keys=[], args=args)]

    def get(self, delivery_id: str) -> Delivery | None:
        values = self._redis.hmget(self._key(delivery_id), _FIELDS)
        row = dict(zip(_FIELDS, values, strict=True))
        if row["status"] is None:
            return None
        return Delivery(
            id=delivery_id,
            event=str(_text(row["event"])),
            action=_text(row["action"]),
            repo=_text(row["repo"]),
            payload=bytes(row["payload"] or b""),
            status=str(_text(row["status"])),
            attempts=int(row["attempts"] or 0),
            received_at=float(row["received_at"] or 0),
            claim=_text(row["claim"]),
            lease_until=_number(row["lease_until"]),
            finished_at=_number(row["finished_at"]),
            error=_text(row["error"]),
            kills=int(row["kills"] or 0),
        )

    def claim(self, delivery_id: str, token: str, lease_s: float) -> Delivery | None:
        args: list[str | float] = [self.prefix, delivery_id, token, lease_s]
        if not self._claim(keys=[self._key(delivery_id)], args=args):
            return None
        return self.get(delivery_id)

    def heartbeat(self, delivery_id: str, token: str, lease_s: float) -> bool:
        args: list[str | float] = [self.prefix, delivery_id, token, lease_s]
        return bool(self._heartbeat(keys=[self._key(delivery_id)], args=args))

    def finish(self, delivery_id: str, token: str, status: str, error: str | None = None) -> bool:
        args: list[str | float] = [self.prefix, delivery_id, token, status, error or "", 0, 0]
        return bool(self._finish(keys=[self._key(delivery_id)], args=args))

    def release(self, delivery_id: str, token: str, error: str, recheck_in: float,
                *, interrupted: bool = False) -> bool:
        args: list[str | float] = [self.prefix, delivery_id, token, PENDING, error, recheck_in,
                                   int(interrupted)]
        return bool(self._finish(keys=[self._key(delivery_id)], args=args))

    def stale(self, limit: int = 500) -> list[str]:
        ids = self._stale(keys=[], args=[self.prefix, self.grace_s, limit])
        return [i.decode() for i in ids]

    def hold(self, key: str, owner: str, ttl_s: float) -> bool:
        ttl_ms = max(1, int(ttl_s * 1000))  # Redis expires it: no pruning needed
        return bool(self._hold(keys=[f"{self.prefix}hold:{key}"], args=[owner, ttl_ms]))

    def unhold(self, key: str, owner: str) -> None:
        self._unhold(keys=[f"{self.prefix}hold:{key}"], args=[owner])

    def counts(self) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for key, value in self._redis.hgetall(self.prefix + "counts").items():
            event, _, status = key.decode().partition("\t")
            if int(value) > 0:
                found[(event, status)] = int(value)
        return found

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except self._errors:
            return False

    def prune(self) -> int:
        return int(self._prune(keys=[], args=[self.prefix, RETENTION_S]))

    def close(self) -> None:
        self._redis.close()
