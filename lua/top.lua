#!lua flags=no-writes
-- Reads leaderboard shards: the head of each, for a merged top-N; or, in
-- "page" mode, each board whole, a page per call, for rankings and lists of
-- active keys over a range (summed by the client).
-- KEYS[1..] boards: leaderboard sorted sets (one per shard).
-- ARGV[1] n: how many members to read from each (1..1000); or "page".
-- Page mode: ARGV[2] count: members per board (1..TALLY_BOARD_PAGE_MAX);
--   ARGV[1+2i], ARGV[2+2i] the cursor of KEYS[i]: "-" and "" from the first
--   member, else the score and the member that ended its last page.
-- Returns: one flat member/score array per key: its first n members ranked by
--   score, highest first, ties broken by member (byte order, lowest first), so
--   the head is the same for every n and the merge of the shards' heads is the
--   true top n. (Redis's own reverse order breaks ties by the highest member.)
--   Page mode: per key {done, member, score, ...}: the next count members in
--   Redis's order (ascending score, ties by member) after the cursor, done "1"
--   when none follows. Scores only grow, so a board written between pages
--   loses no member that was there when the read began: one that moved up is
--   read again, with its newer score; when the cursor's member itself moved,
--   the page starts again at the first member of the cursor's score.
local refuse = lib.refusal("top")
if ARGV[1] == "page" then
  local count = lib.int(ARGV[2], 1, lib.TALLY_BOARD_PAGE_MAX)
  if not count then return refuse("count must be a whole number from 1 to " .. lib.TALLY_BOARD_PAGE_MAX) end
  if #ARGV ~= 2 + 2 * #KEYS then return refuse("a cursor (score, member) per board") end
  for i = 1, #KEYS do
    local c = ARGV[1 + 2 * i]
    if c ~= "-" and not tonumber(c) then return refuse("cursor " .. i .. " must be - or a score") end
  end
  local out = {}
  for i = 1, #KEYS do
    local key, c, m = KEYS[i], ARGV[1 + 2 * i], ARGV[2 + 2 * i]
    local from = 0
    if c ~= "-" then
      local now = redis.call("ZSCORE", key, m)
      if now and tonumber(now) == tonumber(c) then
        from = redis.call("ZRANK", key, m) + 1
      else
        from = redis.call("ZCOUNT", key, "-inf", "(" .. c)
      end
    end
    local page = redis.call("ZRANGE", key, from, from + count - 1, "WITHSCORES")
    table.insert(page, 1, #page < 2 * count and "1" or "0")
    out[i] = page
  end
  return out
end
local n = lib.int(ARGV[1], 1, lib.TALLY_TOP_MAX)
if not n then return refuse("n must be a whole number from 1 to " .. lib.TALLY_TOP_MAX .. ", or page") end
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
