-- PUT /player-data/{key} with a 1 KiB JSON document, as a random one of the
-- users whose access tokens are in $BENCH_TOKENS (one per line), to one of
-- 100 keys per user: many users, many keys, unconditional writes.
local tokens = {}
local doc

function init(args)
	for line in io.lines(os.getenv("BENCH_TOKENS")) do
		tokens[#tokens + 1] = line
	end
	doc = '{"inventory":"' .. string.rep("x", 1000) .. '"}'
	math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
	local t = tokens[math.random(#tokens)]
	local key = "slot" .. math.random(100)
	return wrk.format("PUT", "/player-data/" .. key, {
		["Authorization"] = t,
		["Content-Type"] = "application/json",
	}, doc)
end
