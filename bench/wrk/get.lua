-- GET /player-data/{key} as a random user of $BENCH_TOKENS, one of the keys
-- slot1..slot10 that bench/storage.sh writes for every user first.
local tokens = {}

function init(args)
	for line in io.lines(os.getenv("BENCH_TOKENS")) do
		tokens[#tokens + 1] = line
	end
	math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
	local t = tokens[math.random(#tokens)]
	return wrk.format("GET", "/player-data/slot" .. math.random(10), {
		["Authorization"] = t,
	})
end
