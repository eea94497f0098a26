#!lua flags=no-writes
-- Reads statistics buckets for the queries, in one round trip.
-- KEYS[1..] buckets: hashes of buckets, any number.
-- ARGV[1] mode: "get" reads the fields named next (HMGET); "all" reads every field
--   of every key (HGETALL).
-- ARGV[2..] fields: "get" only: for each key in order, a count n followed by n
--   field names to read from that key.
-- Returns: one array per key: the values (false where missing) for "get", the
--   flat field/value list for "all".
local fail = lib.refusal("read")
local mode = ARGV[1]
local out = {}
if mode == "all" then
  for i = 1, #KEYS do out[i] = redis.call("HGETALL", KEYS[i]) end
  return out
end
if mode ~= "get" then return fail("mode must be get or all") end
local at = 2
for i = 1, #KEYS do
  local n = lib.int(ARGV[at], 1, #ARGV - at)
  if not n then return fail("field count for key " .. i .. " is wrong") end
  out[i] = redis.call("HMGET", KEYS[i], unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return out
