-- Fly-Request-Id for the nearby edge proxy: a ULID (48-bit milliseconds, 80 random bits,
-- Crockford base32), so request ids sort by time like Fly's. Loaded by haproxy-config.ts.
local alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

local function encode(value, length)
  local out = {}
  for i = length, 1, -1 do
    local digit = value % 32
    out[i] = alphabet:sub(digit + 1, digit + 1)
    value = value // 32
  end
  return table.concat(out)
end

core.register_fetches("nearby_request_id", function(txn)
  local now = core.now()
  local ms = now.sec * 1000 + now.usec // 1000
  local random = txn.f
  return encode(ms, 10)
    .. encode(random:rand(1048576), 4) .. encode(random:rand(1048576), 4)
    .. encode(random:rand(1048576), 4) .. encode(random:rand(1048576), 4)
end)
