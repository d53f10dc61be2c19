-- wrk script for bench/ingress: POSTs one real, signed webhook body with a unique
-- X-GitHub-Delivery per request, counts answers by status, and prints one JSON line of figures.
--
--   wrk -t2 -c64 -d15s --latency -s bench/ingress.lua URL -- BODY_FILE SIGNATURE EVENT RUN_TAG
--
-- The body is signed once (the delivery id is not part of what GitHub signs), so every request
-- is a valid delivery that a correct edge must store exactly once.

local threads = {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
  table.insert(threads, thread)
end

local body, signature, event, tag
-- globals, not locals: done() reads them from each thread with thread:get
sent, answered, accepted, other = 0, 0, 0, 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  signature, event, tag = args[2], args[3], args[4] or "0"
end

local function delivery_id()
  sent = sent + 1
  -- UUID-shaped like GitHub's: run tag, thread number and a counter make it unique per run
  return string.format("%08x-%04x-4000-8000-%012x", tonumber(tag), thread_no, sent)
end

function request()
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = event,
    ["X-GitHub-Delivery"] = delivery_id(),
    ["X-GitHub-Hook-ID"] = "1",
    ["X-Hub-Signature-256"] = signature,
  }, body)
end

function response(status, headers, resp_body)
  answered = answered + 1
  if status == 202 or status == 200 then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local sent_all, accepted_all, other_all = 0, 0, 0
  for _, t in ipairs(threads) do
    sent_all = sent_all + t:get("sent")
    accepted_all = accepted_all + t:get("accepted")
    other_all = other_all + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "sent": %d, "accepted": %d, "non_2xx": %d, "err_connect": %d, ' ..
    '"err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, sent_all, accepted_all, other_all, e.connect, e.read,
    e.write, e.status, e.timeout))
end
