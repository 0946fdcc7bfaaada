-- Shared by the bench/wrk/*.lua scripts (loaded with dofile; see bench/run.sh).
--
-- * setup() numbers wrk's threads: the global `tid` (0-based) in each thread.
-- * pool() reads $BENCH_POOL, one guest per line, tab-separated:
--     user_id <TAB> guest_secret <TAB> auth_token <TAB> refresh_token
--   and returns this thread's share (line i goes to thread (i-1) % $BENCH_THREADS),
--   so that no two threads ever use the same refresh token or storage slot.
-- * done() prints one parseable line that bench/run.sh reads:
--     BENCH requests=N duration_us=N p50_us=N p99_us=N status_errors=N
--           connect=N read=N write=N timeout=N
--   (status_errors: answers with a status >= 400, as wrk counts them).

local counter = 0
function setup(thread)
	thread:set("tid", counter)
	counter = counter + 1
end

function split_tabs(line)
	local f = {}
	for field in string.gmatch(line, "[^\t]+") do
		f[#f + 1] = field
	end
	return f
end

function pool()
	local path = os.getenv("BENCH_POOL")
	local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
	local rows, i = {}, 0
	for line in io.lines(path) do
		if i % nthreads == (tid or 0) then
			local f = split_tabs(line)
			rows[#rows + 1] = { user_id = f[1], secret = f[2], auth = f[3], refresh = f[4] }
		end
		i = i + 1
	end
	if #rows == 0 then
		error("no pool entries for thread " .. tostring(tid) .. " in " .. tostring(path))
	end
	math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.floor(os.clock() * 1e6))
	return rows
end

function done(summary, latency, requests)
	local e = summary.errors
	io.stdout:write(string.format(
		"BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d " ..
		"connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.status, e.connect, e.read, e.write, e.timeout))
end

-- $BENCH_DELAY_MS: each connection waits this long before each request, so
-- that the run asks for a fixed rate instead of as much as it can (the p99 at
-- half the peak rate).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
	function delay()
		return pause
	end
end
