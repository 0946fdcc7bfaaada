-- GET /player-data/{key}: a random guest of the pool reads one of its
-- documents ($BENCH_KEYS keys, named save1..saveN, that bench/run.sh wrote
-- first: 1 KiB each). Answers are 200 with the document and its ETag.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local reqs = {}

function init(args)
	local nkeys = tonumber(os.getenv("BENCH_KEYS") or "1")
	for _, g in ipairs(pool()) do
		for k = 1, nkeys do
			reqs[#reqs + 1] = wrk.format("GET", "/player-data/save" .. k,
				{ ["Authorization"] = g.auth })
		end
	end
end

function request()
	return reqs[math.random(#reqs)]
end
