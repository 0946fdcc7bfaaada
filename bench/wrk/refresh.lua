-- GET /refresh-access-token?&refresh_token=T with a fresh refresh token every
-- time. Refresh tokens rotate (presenting a spent one revokes the session),
-- so each thread keeps a queue of unspent tokens: request() takes one, and
-- response() puts back the new token that the answer carries. The queue
-- starts with this thread's share of the pool, which must be larger than the
-- connections per thread (bench/run.sh makes it at least twice as large).
-- An answer without a token (an error) loses that token; an empty queue
-- sends "x", which fails as 401 and shows in the errors.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local queue, head, tail = {}, 1, 0

function init(args)
	for _, g in ipairs(pool()) do
		tail = tail + 1
		queue[tail] = g.refresh
	end
end

function request()
	local t = "x"
	if head <= tail then
		t = queue[head]
		queue[head] = nil
		head = head + 1
	end
	return wrk.format("GET", "/refresh-access-token?&refresh_token=" .. t)
end

function response(status, headers, body)
	if status == 200 then
		local t = string.match(body, '"refresh_token":"([^"]+)"')
		if t then
			tail = tail + 1
			queue[tail] = t
		end
	end
end
