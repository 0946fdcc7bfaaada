-- Unconditional writes (the former bench/storage.sh load): PUT
-- /player-data/slot<1..100> with a 1 KiB JSON document, no precondition, as a
-- random guest of the pool: many users, many keys.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local users, doc = {}, nil

function init(args)
	users = pool()
	doc = '{"inventory":"' .. string.rep("x", 1000) .. '"}'
end

function request()
	local g = users[math.random(#users)]
	return wrk.format("PUT", "/player-data/slot" .. math.random(100), {
		["Authorization"] = g.auth,
		["Content-Type"] = "application/json",
	}, doc)
end
