-- SPDX-License-Identifier: MIT
-- Description: wrk script for make bench. Sends WRK_PIPELINE requests
-- (default 16) back to back in one write per connection and waits for all
-- the responses before the next batch; with WRK_PIPELINE=1 it leaves wrk's
-- own request path alone (plain keep-alive). Either way it ends with one
-- machine-readable line that tests/bench/run.sh parses:
--   wrk requests=N duration_us=N rps=N p50_us=N p99_us=N errors=N non2xx=N
-- Usage: WRK_PIPELINE=16 wrk -s tests/bench/pipeline.lua URL [-- PATH]

local depth = tonumber(os.getenv("WRK_PIPELINE") or "") or 16
local batch

function init(args)
   local path = args[1] or wrk.path
   local reqs = {}
   for i = 1, depth do
      reqs[i] = wrk.format(nil, path)
   end
   batch = table.concat(reqs)
end

-- Defining request() makes wrk call it for every write, so it is only
-- defined when there is a batch to send.
if depth > 1 then
   function request()
      return batch
   end
end

-- wrk 4.1's coordinated-omission correction can add samples below the
-- recorded minimum, which percentile() never reaches: it then returns 0
-- (always with pipelining, where the correction assumes one request per
-- round trip). Rescale p to the share of samples it can reach.
local function pct(lat, p)
   local v = lat:percentile(p)
   if v ~= 0 or lat.max == 0 then
      return v
   end
   local lo, hi = 0, p
   for _ = 1, 40 do
      local mid = (lo + hi) / 2
      if lat:percentile(mid) ~= 0 then lo = mid else hi = mid end
   end
   return lat:percentile(p / 100 * lo)
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "wrk requests=%d duration_us=%d rps=%.0f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
      summary.requests, summary.duration, summary.requests / secs,
      pct(latency, 50), pct(latency, 99),
      e.connect + e.read + e.write + e.timeout, e.status))
end
