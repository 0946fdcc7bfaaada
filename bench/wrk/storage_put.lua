-- Versioned writes: PUT /player-data/{key} with a 1 KiB JSON document and a
-- precondition, as a game saving what it last read. Each thread owns
-- slots (a guest's access token + a key named t<thread>s<n>, unique to this
-- thread); a slot is in flight on at most one connection at a time, so no
-- write ever races another on the same key. The first write of a slot is
-- If-None-Match: * (create, 201); the answer's "key" and "version" put the
-- slot back in the free queue with its new version, and the next write is
-- If-Match: "<version>" (200). An answer that is not 200/201 loses its slot
-- (a 412 says nothing about the key); the slots are 4x the connections.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local slots, queue, head, tail = {}, {}, 1, 0
local doc

function init(args)
	local users = pool()
	local per_thread = tonumber(os.getenv("BENCH_SLOTS") or "256")
	for i = 1, per_thread do
		local key = "t" .. tid .. "s" .. i
		slots[key] = { auth = users[(i - 1) % #users + 1].auth, version = nil }
		tail = tail + 1
		queue[tail] = key
	end
	doc = '{"inventory":"' .. string.rep("x", 1000) .. '"}'
end

function request()
	if head > tail then -- every slot lost: an unconditional write, counted apart
		return wrk.format("PUT", "/player-data/lost", { ["Authorization"] = "x" }, doc)
	end
	local key = queue[head]
	queue[head] = nil
	head = head + 1
	local s = slots[key]
	local h = { ["Authorization"] = s.auth, ["Content-Type"] = "application/json" }
	if s.version then
		h["If-Match"] = '"' .. s.version .. '"'
	else
		h["If-None-Match"] = "*"
	end
	return wrk.format("PUT", "/player-data/" .. key, h, doc)
end

function response(status, headers, body)
	if status == 200 or status == 201 then
		local key = string.match(body, '"key":"([^"]+)"')
		local v = string.match(body, '"version":(%d+)')
		if key and v and slots[key] then
			slots[key].version = v
			tail = tail + 1
			queue[tail] = key
		end
	end
end
