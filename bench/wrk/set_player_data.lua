-- GET /set-player-data?&player_name=... with "Authorization: <access token>",
-- as the Unity SDK sends it, as a random guest of the pool: an unconditional
-- write of the player_name document.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local users = {}

function init(args)
	users = pool()
end

function request()
	local g = users[math.random(#users)]
	return wrk.format("GET", "/set-player-data?&player_name=Player%20" .. math.random(1000000),
		{ ["Authorization"] = g.auth })
end
