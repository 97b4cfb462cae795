-- wrk 4 script for bench.ingress: replays pre-signed TikTok Shop webhooks.
--
-- Usage: wrk ... -s webhooks.lua <url> <bodies file> <wrk threads> <path>
--        environment BENCH_DELAY_MS=<ms between requests on one connection> (0: no delay)
--
-- The bodies file has one request a line: "<authorization hex> <raw json body>". Thread k
-- (0-based) keeps the lines whose index mod <wrk threads> == k, so threads replay disjoint
-- slices and every request of a run is distinct until a slice wraps (counted in "wraps").
-- done() prints one line "@@BENCH {json}" that bench/ingress.py parses; latencies in µs.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local file, nthreads, path = args[1], tonumber(args[2]), args[3]
   reqs = {}
   local i = 0
   for line in io.lines(file) do
      if i % nthreads == id then
         local sig, body = line:match("^(%x+) (.*)$")
         reqs[#reqs + 1] = wrk.format("POST", path, {
            ["Content-Type"] = "application/json",
            ["Authorization"] = sig,
         }, body)
      end
      i = i + 1
   end
   n = #reqs
   if n == 0 then
      error("thread " .. id .. " got no bodies from " .. file)
   end
   idx = 0
   wraps = 0
end

function request()
   idx = idx + 1
   if idx > n then
      idx = 1
      wraps = wraps + 1
   end
   return reqs[idx]
end

-- wrk decides once, before init(), whether a delay() function exists; define it only for
-- fixed-rate runs so the max-throughput run pays no timer per request.
-- The delay is jittered uniformly over [0.5, 1.5] x the mean so connections do not fire in
-- lock-step bursts; wrk truncates it to whole ms, so it is rounded at random to keep the mean.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
   math.randomseed(os.time())
   function delay()
      return math.floor(delay_ms * (0.5 + math.random()) + math.random())
   end
end

function done(summary, latency, requests)
   local wrapped, bodies = 0, 0
   for _, t in ipairs(threads) do
      wrapped = wrapped + (t:get("wraps") or 0)
      bodies = bodies + (t:get("n") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      '@@BENCH {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,'
         .. '"wraps":%d,"bodies":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.mean, latency.max,
      wrapped, bodies))
end
