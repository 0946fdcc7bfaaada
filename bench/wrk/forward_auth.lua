-- GET /forward-auth?scope=guest,authenticated as nginx's auth_request sends
-- it: the client's "Authorization: <access token>" and the original method
-- and URI, as a random guest of the pool.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local reqs = {}

function init(args)
	for _, g in ipairs(pool()) do
		reqs[#reqs + 1] = wrk.format("GET", "/forward-auth?scope=guest,authenticated", {
			["Authorization"] = g.auth,
			["X-Original-Method"] = "GET",
			["X-Original-URI"] = "/api/items?page=2",
		})
	end
end

function request()
	return reqs[math.random(#reqs)]
end
