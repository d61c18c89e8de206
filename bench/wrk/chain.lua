-- Refresh chains: POST {"refresh": token} with a token from the pool, and put the refresh token
-- of every answer back into it. Tokens are single use (rotation), so each request needs the
-- one the previous answer handed out. The pool (BENCH_TOKENS, one token a line) starts with
-- more tokens than connections, so a connection always finds one. Run with one thread (-t1):
-- the pool lives in the thread's Lua state.
local pool = {}
local path = os.getenv("BENCH_TOKENS")
if path then
  for line in io.lines(path) do
    if #line > 0 then pool[#pool + 1] = line end
  end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  -- An exhausted pool (a refused refresh lost its chain) sends a bad token: a 401, which the
  -- report counts as an error instead of hiding it.
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format(nil, nil, nil, '{"refresh":"' .. token .. '"}')
end

response = function(status, headers, body)
  local token = body:match('"refresh"%s*:%s*"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
