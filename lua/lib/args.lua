-- lib/args.lua: arguments. Numbers arrive as decimal text; Lua's numbers are
-- doubles, exact to 2^53, so a whole number has at most 16 digits.
-- lib.int: the whole number in s if it lies within lo..hi, else nil.
function lib.int(s, lo, hi)
  if type(s) ~= "string" or #s > 16 or not s:match("^%d+$") then return nil end
  local v = tonumber(s)
  if v < lo or v > hi then return nil end
  return v
end

-- lib.istr: a whole number as decimal text (Lua 5.1's %d: exact below 2^53).
function lib.istr(v) return string.format("%d", v) end

-- lib.call_spread: redis.call(cmd, key, list[from..to]) (default: all of
-- list) in pieces of at most 1000 values (an even count, so pairs stay whole),
-- results concatenated: Lua's unpack refuses ~8000 values, and a refusal
-- halfway through a script's writes would leave half an update.
function lib.call_spread(cmd, key, list, from, to)
  from, to = from or 1, to or #list
  if to - from < 1000 then return redis.call(cmd, key, unpack(list, from, to)) end
  local out = {}
  for i = from, to, 1000 do
    local part = redis.call(cmd, key, unpack(list, i, math.min(i + 999, to)))
    if type(part) == "table" then
      for p = 1, #part do out[i - from + p] = part[p] end
    end
  end
  return out
end
