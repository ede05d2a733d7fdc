-- wrk at a steady rate: each connection waits WRK_DELAY_MS between requests, so the load is
-- connections x 1000 / WRK_DELAY_MS requests per second whatever the latency (wrk has no --rate;
-- wrk2 is not packaged). Latency is measured from each request's send, the wait excluded.
local ms = tonumber(os.getenv("WRK_DELAY_MS") or "16")
function delay()
  return ms
end
