#!lua flags=no-writes
-- Reads statistics buckets for the queries, in one round trip.
-- KEYS[1..] buckets: hashes of buckets, any number.
-- ARGV[1] mode: "get" reads the fields named next (HMGET); "all" reads every field
--   of every key (HGETALL: the price table); "scan" reads one page of each key's
--   fields of one kind (HSCAN, MATCH, COUNT: the breakdowns).
-- ARGV[2..] fields: "get" only: for each key in order, a count n followed by n
--   field names to read from that key.
-- ARGV[2] prefix: "scan" only: the fields' kind, letters and a colon ("m:",
--   "a:", "p:"): only fields whose names start with it are returned.
-- ARGV[3..] pages: "scan" only: for each key in order, its cursor ("0" to
--   start, then the one its last page gave) and a count (1..1000000: HSCAN's
--   COUNT, the fields to look at; a hash small enough to be a listpack comes
--   whole).
-- Returns: one array per key: the values (false where missing) for "get", the
--   flat field/value list for "all"; for "scan" the next cursor ("0": the hash
--   is done), then field, value, ...
local fail = lib.refusal("read")
local mode = ARGV[1]
local out = {}
if mode == "all" then
  for i = 1, #KEYS do out[i] = redis.call("HGETALL", KEYS[i]) end
  return out
end
if mode == "scan" then
  local prefix = ARGV[2]
  if #ARGV ~= 2 + 2 * #KEYS then return fail("scan takes a field prefix, then a cursor and count per key") end
  if not prefix:find("^%a+:$") then return fail("field prefix must be letters and a colon") end
  for i = 1, #KEYS do
    local cursor = ARGV[1 + 2 * i]
    if not cursor:find("^%d+$") or #cursor > 20 then return fail("cursor for key " .. i .. " is wrong") end
    if not lib.int(ARGV[2 + 2 * i], 1, 1000000) then return fail("count for key " .. i .. " is wrong") end
  end
  for i = 1, #KEYS do
    local cursor, count = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
    local page = redis.call("HSCAN", KEYS[i], cursor, "MATCH", prefix .. "*", "COUNT", count)
    local flat = page[2]
    table.insert(flat, 1, page[1])
    out[i] = flat
  end
  return out
end
if mode ~= "get" then return fail("mode must be get, all or scan") end
local at = 2
for i = 1, #KEYS do
  local n = lib.int(ARGV[at], 1, #ARGV - at)
  if not n then return fail("field count for key " .. i .. " is wrong") end
  out[i] = redis.call("HMGET", KEYS[i], unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return out
