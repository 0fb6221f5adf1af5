-- wrk script: POST the Open Inference Protocol body in $BENCH_BODY (a file) with the bearer
-- token in $BENCH_TOKEN (none if empty), and count the replies that were not 200.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN") or ""
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- Pacing for the soak: each connection waits $BENCH_DELAY_MS between its requests (wrk cannot
-- hold a rate by itself; the driver picks the delay that holds the one it wants).
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
