-- wrk script: POST the seed hook body with the extension secret.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-secret"
wrk.body = '{"client":{"id":"bench"},"scope":["read:sample"],"audience":"https://someapi.com/api","context":{}}'
