-- A fixed GET of $BENCH_PATH (JWKS, a new guest each time, the bare MHD
-- ceiling, a hanging platform login): wrk sends its pre-built request, so
-- the script costs nothing per request.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
