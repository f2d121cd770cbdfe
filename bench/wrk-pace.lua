-- wrk script for `npm run bench -- proxy`: each connection waits NEARBY_BENCH_DELAY_MS between
-- requests, so a run holds a fixed rate (wrk2 is not in Debian) and its percentiles compare.
local pause = tonumber(os.getenv("NEARBY_BENCH_DELAY_MS") or "0")

function delay()
  return pause
end
