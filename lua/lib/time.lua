-- lib/time.lua: Redis's clock (TIME), never the caller's. Tests may pass a
-- fixed "now" instead (ARGV "0" means TIME; the client enables that).
function lib.now_us()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

function lib.now_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
