-- wrk script: replay pre-built raw HTTP requests, one file per wrk thread.
--
-- bench/run.py writes $BENCH_REQ_DIR/thread-<n>.bin for n = 0 .. threads-1: complete raw
-- requests (request line, headers, body), each followed by one NUL byte. Every request is
-- signed with its own nonce, so a request must not be sent twice: when a thread runs past
-- the end of its file it starts again (the server then answers SignatureNonceUsed, which
-- wrk counts as a non-2xx answer) and counts a wrap; run.py discards such a run and
-- repeats it with a larger batch. When the file holds a single request (the health floor,
-- moto's Encrypt) that one request is cycled on purpose and BENCH_CYCLE=1 says so.
--
-- done() prints one line "BENCHJSON {...}" with the counts and latency percentiles (µs).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("BENCH_REQ_DIR")
  local f = assert(io.open(dir .. "/thread-" .. id .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos = 1
  while true do
    local stop = string.find(data, "\0", pos, true)
    if not stop then break end
    reqs[#reqs + 1] = string.sub(data, pos, stop - 1)
    pos = stop + 1
  end
  n = #reqs
  i = 0
  wraps = 0
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wraps = wraps + 1
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, t in ipairs(threads) do
    wrapped = wrapped + (t:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"wraps":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, wrapped))
end
