-- wrk: POST the bench body with the virtual key (both read from the environment). With BENCH_VARY=1 each request's
-- body has its "VARY" replaced by a number no other request uses (a response cache then always misses).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["content-type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then wrk.headers["x-goog-api-key"] = key end
if os.getenv("BENCH_VARY") == "1" then
  local n = 0
  local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
  request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, (string.gsub(wrk.body, "VARY", run .. "-" .. n)))
  end
end
