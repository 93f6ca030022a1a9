-- wrk script for `make bench` (bench/load.py): GETs the URL as given, or with
-- `-- append RUN THREADS BODY` POSTs BODY to /v1/threads/RUN-<k>/turns, k turning
-- over THREADS threads, each request with an Idempotency-Key of its own.
-- Prints one JSON line with what wrk measured, for bench/load.py to read.

local mode, run, threads, body = "get", "", 1, ""
local counter = 0

function init(args)
  if args[1] == "append" then
    mode, run, threads, body = "append", args[2], tonumber(args[3]), args[4]
  end
end

function request()
  if mode ~= "append" then
    return wrk.format("GET")
  end
  counter = counter + 1
  local path = "/v1/threads/" .. run .. "-" .. (counter % threads) .. "/turns"
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = run .. "-" .. counter,
  }
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "failed": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
