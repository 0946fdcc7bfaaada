-- GET /get-player-data with "Authorization: <access token>" (raw, as the
-- Unity SDK sends it), as a random guest of the pool.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local reqs = {}

function init(args)
	for _, g in ipairs(pool()) do
		reqs[#reqs + 1] = wrk.format("GET", "/get-player-data", { ["Authorization"] = g.auth })
	end
end

function request()
	return reqs[math.random(#reqs)]
end
