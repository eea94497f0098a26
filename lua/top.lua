#!lua flags=no-writes
-- Reads the head of each leaderboard shard, for a merged top-N.
-- KEYS[1..] boards: leaderboard sorted sets (one per shard).
-- ARGV[1] n: how many members to read from each (1..1000).
-- Returns: one flat member/score array per key: its first n members ranked by
--   score, highest first, ties broken by member (byte order, lowest first), so
--   the head is the same for every n and the merge of the shards' heads is the
--   true top n. (Redis's own reverse order breaks ties by the highest member.)
local n = lib.int(ARGV[1], 1, lib.TALLY_TOP_MAX)
if not n then return lib.refusal("top")("n must be a whole number from 1 to " .. lib.TALLY_TOP_MAX) end
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local top = redis.call("ZREVRANGE", key, 0, n - 1, "WITHSCORES")
  if #top < 2 * n then
    out[i] = top -- n or fewer members: all of them
  else
    -- The members above the n-th score (all among these n), then the lowest
    -- members tied at it.
    local cut = top[2 * n]
    local head = {}
    for k = 1, #top, 2 do
      if tonumber(top[k + 1]) > tonumber(cut) then
        head[#head + 1] = top[k]
        head[#head + 1] = top[k + 1]
      end
    end
    local ties = redis.call("ZRANGEBYSCORE", key, cut, cut, "WITHSCORES", "LIMIT", 0, n - #head / 2)
    for _, v in ipairs(ties) do head[#head + 1] = v end
    out[i] = head
  end
end
return out
