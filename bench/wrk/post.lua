-- POST the same JSON body (BENCH_BODY) on every request: logins.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY") or "{}"
