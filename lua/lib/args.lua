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
