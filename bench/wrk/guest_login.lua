-- Guest re-login as the Unity SDK sends it (unencoded values after "?&"):
-- GET /login-as-guest?&user_id=U&guest_secret=S, a random guest of the pool.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local reqs = {}

function init(args)
	for _, g in ipairs(pool()) do
		reqs[#reqs + 1] = wrk.format("GET", "/login-as-guest?&user_id=" .. g.user_id ..
			"&guest_secret=" .. g.secret)
	end
end

function request()
	return reqs[math.random(#reqs)]
end
