-- Fly-Replay for the nearby edge proxy (DESIGN.md §4): when an app answers with a Fly-Replay
-- header, hand the request HAProxy kept (method, target, header block, body) to nearby's replayer
-- in Node, and send the client its answer instead. Runs only for responses carrying the header.
-- The replayer's address comes from the environment (`setenv NEARBY_REPLAYER` in the config).
local replayer = "http://" .. (os.getenv("NEARBY_REPLAYER") or "127.0.0.1:9")

local function fail(txn, status, message, retry_after)
  local headers = { ["content-type"] = { "text/plain; charset=utf-8" } }
  if retry_after ~= nil then headers["retry-after"] = { retry_after } end
  local reply = txn:reply({ status = status, headers = headers, body = message .. "\n" })
  txn:done(reply)
end

core.register_action("nearby_replay", { "http-res" }, function(txn)
  local directive = txn.http:res_get_headers()["fly-replay"]
  directive = directive and directive[0] or ""
  local head = txn:get_var("txn.nb_head") or ""
  local body = txn:get_var("txn.nb_body") or ""
  local length = tonumber(txn:get_var("txn.nb_length") or "0") or 0
  if txn:get_var("txn.nb_chunked") ~= nil then
    return fail(txn, 413, "413 Fly-Replay: a request body sent without Content-Length (chunked) cannot be replayed")
  end
  if length > 1048576 then
    return fail(txn, 413, "413 Fly-Replay: the request body (" .. length
      .. " bytes) is larger than what the proxy keeps for a replay (1 MiB); send it to the right"
      .. " instance directly (fly-force-instance-id)")
  end
  if length > #body then
    return fail(txn, 502, "502 Fly-Replay: the proxy did not get the whole request body (" .. #body
      .. " of " .. length .. " bytes) in time to replay it")
  end
  local client = core.httpclient()
  local response = client:post({
    url = replayer .. "/replay",
    headers = {
      ["x-nearby-replay"] = { directive },
      ["x-nearby-app"] = { txn:get_var("txn.app") or "" },
      ["x-nearby-backend"] = { txn.sf:be_name() or "" },
      ["x-nearby-instance"] = { txn.sf:srv_name() or "" },
      ["x-nearby-head-length"] = { tostring(#head) },
      ["x-nearby-method"] = { txn:get_var("txn.nb_method") or "GET" },
      ["x-nearby-path"] = { txn:get_var("txn.nb_path") or "/" },
    },
    body = head .. body,
    timeout = 60000,
  })
  if response == nil or response.status == nil or response.status == 0 then
    -- nearby is restarting (HAProxy outlives it) or overloaded: a moment later it will answer.
    return fail(txn, 503, "503 Fly-Replay: nearby's replayer did not answer; try again shortly", "1")
  end
  local headers = {}
  for name, values in pairs(response.headers or {}) do
    local list = {}
    -- HAProxy's header lists start at 0; keep their order (Set-Cookie).
    for i = 0, #values do
      if values[i] ~= nil then list[#list + 1] = values[i] end
    end
    headers[name] = list
  end
  local reply = txn:reply({ status = response.status, headers = headers, body = response.body or "" })
  txn:done(reply)
end)
