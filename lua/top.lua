#!lua flags=no-writes
-- Reads the head of each leaderboard shard, for a merged top-N.
-- KEYS[1..] boards: leaderboard sorted sets (one per shard).
-- ARGV[1] n: how many members to read from each (1..1000).
-- Returns: one flat member/score array per key, highest scores first.
local n = tonumber(ARGV[1])
if not n or n < 1 or n > 1000 or n ~= math.floor(n) then
  return redis.error_reply("EINVAL top: n must be a whole number from 1 to 1000")
end
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call("ZREVRANGE", KEYS[i], 0, n - 1, "WITHSCORES")
end
return out
