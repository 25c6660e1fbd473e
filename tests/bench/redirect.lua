-- wrk script of the redirect benchmark: random codes among the seeded links, UTM
-- parameters and an ad click id, the user agent of Instagram's in-app browser.
-- Counts 302s per thread and prints one JSON line at the end.

local codes_file = os.getenv("BENCH_CODES")
codes = {}
for line in io.lines(codes_file) do
  codes[#codes + 1] = line
end

local ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 " ..
  "(KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.29.110 (iPhone15,3; iOS 17_1; " ..
  "en_US; en; scale=3.00; 1290x2796; 518036545)"
local campaigns = {"summer", "launch", "creator-ana", "retargeting"}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + id)
  redirects = 0
  others = 0
end

function request()
  local code = codes[math.random(#codes)]
  local path = "/shop/s/" .. code ..
    "?utm_source=instagram&utm_medium=social&utm_campaign=" .. campaigns[math.random(#campaigns)] ..
    "&fbclid=IwAR" .. math.random(100000000, 999999999)
  return wrk.format("GET", path, {["User-Agent"] = ua, ["Accept"] = "text/html"})
end

function response(status, headers, body)
  if status == 302 then
    redirects = redirects + 1
  else
    others = others + 1
  end
end

function done(summary, latency, requests)
  local r, o = 0, 0
  for _, thread in ipairs(threads) do
    r = r + thread:get("redirects")
    o = o + thread:get("others")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"redirects": %d, "others": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    r, o, e.connect, e.read, e.write, e.timeout))
end
