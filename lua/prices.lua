#!lua
-- Loads a price table: checks it all, then replaces the old one at once.
-- KEYS[1] prices: the price table hash (docs/keys.md).
-- ARGV[2i-1] model: model i's name (1..nm, 1 to 256 bytes).
-- ARGV[2i] entries: model i's entries, each
--   "from,in,out,cc,cr,above,tin,tout,tcc,tcr" (decimal integers: from epoch
--   ms, prices nano-USD per million tokens, the tier's threshold in prompt
--   tokens, 0 for none, and its prices), joined by ";" in ascending from order.
-- Returns: {version, changed}: the new version, the old one plus 1, and 1; or,
-- when a table is stored and this one's canonical text is the same (the same
-- models, each with the same entries), the stored version and 0, and nothing
-- is written (a config-management re-deploy of the same file keeps its version).
-- Every entry is checked before the first write; the old table's models go in
-- the same script (HDEL: the least-privilege ACL has no DEL), so a reader
-- (read.lua) sees the old table or the new one, never a mix.
local fail, int = lib.refusal("prices"), lib.int
local key = KEYS[1]
if #KEYS ~= 1 then return fail("one key: the price table") end
local stored = redis.call("HGET", key, "version")
local version = 0
if stored then
  version = int(stored, 0, lib.TALLY_PRICES_VERSION_MAX)
  if not version then return lib.foreign(key .. " is not a price table") end
end

local nm = #ARGV / 2
if nm ~= math.floor(nm) or nm > lib.TALLY_PRICE_MODELS_MAX then
  return fail("give a name and entries per model, at most " .. lib.TALLY_PRICE_MODELS_MAX .. " models")
end
if version >= lib.TALLY_PRICES_VERSION_MAX then return fail("the price table version is at its maximum") end
local bounds = { lib.TALLY_AT_MAX }
for k = 2, 10 do bounds[k] = (k == 6) and lib.TALLY_MAX_TOKENS or lib.TALLY_PRICE_MAX_NANOS end
local old = redis.call("HKEYS", key)
local fields, seen = {}, {}
for i = 1, nm do
  local model, entries = ARGV[2 * i - 1], ARGV[2 * i]
  if #model < 1 or #model > 256 then return fail("model " .. i .. ": the name must be 1 to 256 bytes") end
  if seen[model] then return fail("model " .. model .. " is given twice") end
  seen[model] = "m:" .. model
  local last, count = -1, 0
  for entry in (entries .. ";"):gmatch("([^;]*);") do
    local v = {}
    for num in (entry .. ","):gmatch("([^,]*),") do
      local x = int(num, 0, bounds[#v + 1] or -1)
      if not x then
        return fail("model " .. model .. ": entry '" .. entry .. "' is not 10 bounded numbers")
      end
      v[#v + 1] = x
    end
    count = count + 1
    if #v ~= 10 or count > lib.TALLY_PRICE_ENTRIES_MAX then
      return fail("model " .. model .. ": entries must be 10 numbers each, at most "
        .. lib.TALLY_PRICE_ENTRIES_MAX)
    end
    if v[1] <= last then return fail("model " .. model .. ": entries must be in ascending from order") end
    if v[6] == 0 and v[7] + v[8] + v[9] + v[10] > 0 then
      return fail("model " .. model .. ": tier prices without a tier threshold")
    end
    last = v[1]
  end
  fields[#fields + 1], fields[#fields + 2] = "m:" .. model, entries
end

-- The same table again: its stored fields are exactly these (HKEYS has one
-- field per model and the version).
if stored and #old == nm + 1 then
  local same = true
  for i = 2, #fields, 2 do
    if redis.call("HGET", key, fields[i - 1]) ~= fields[i] then same = false break end
  end
  if same then return { version, 0 } end
end

-- Writes: the whole table at once.
local gone, keep = {}, {}
for _, m in pairs(seen) do keep[m] = true end
for _, f in ipairs(old) do
  if f ~= "version" and not keep[f] then gone[#gone + 1] = f end
end
if #gone > 0 then lib.call_spread("HDEL", key, gone) end
fields[#fields + 1], fields[#fields + 2] = "version", lib.istr(version + 1)
lib.call_spread("HSET", key, fields)
return { version + 1, 1 }
