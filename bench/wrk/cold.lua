-- wrk script of the cold-validation rows: every request validates the next token of a file
-- (one token a line), so each token is validated once. Arguments after "--": TOKENS=path,
-- then request headers as NAME=VALUE (the caller's X-Auth-Token). done() prints one line
-- "BENCH_JSON {...}" (bench/coldhttp.py reads it) with "wrapped": requests that came after
-- the file ran out and so re-validated a token; bench/coldhttp.py refuses such a run.

local tokens = {}
local next_token = 1
local wrapped = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for _, pair in ipairs(args) do
    local name, value = pair:match("^([^=]+)=(.*)$")
    if name == "TOKENS" then
      for line in io.lines(value) do
        if #line > 0 then table.insert(tokens, line) end
      end
    else
      wrk.headers[name] = value
    end
  end
end

function request()
  if next_token > #tokens then
    next_token = 1
    wrapped = wrapped + 1
  end
  wrk.headers["X-Subject-Token"] = tokens[next_token]
  next_token = next_token + 1
  return wrk.format("GET", nil, wrk.headers)
end

function response(status, headers, body)
  if wrapped > 0 then wrk.thread:set("wrapped", wrapped) end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local wrapped_total = 0
  for _, thread in ipairs(threads) do
    wrapped_total = wrapped_total + (tonumber(thread:get("wrapped")) or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"non_2xx_3xx": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect, errors.read, errors.write, errors.timeout, wrapped_total))
end
