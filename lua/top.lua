#!lua flags=no-writes
-- Reads the head of each leaderboard shard, for a merged top-N.
-- KEYS: leaderboard sorted sets (one per shard).
-- ARGV: [1] n, how many members to read from each (1..1000).
--   Returns one flat member/score array per key, highest scores first.
local n = lib.int(ARGV[1], 1, lib.TALLY_TOP_MAX)
if not n then return lib.refusal("top")("n must be a whole number from 1 to " .. lib.TALLY_TOP_MAX) end
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call("ZREVRANGE", KEYS[i], 0, n - 1, "WITHSCORES")
end
return out
