#!lua
-- Records a batch of usage events, merged by the host into bucket and leaderboard deltas: all or nothing.
-- KEYS: nh bucket hashes, then nz leaderboard sorted sets in threes (cost,
--   tokens, requests of one period), then ni request-id hashes.
-- ARGV: [1] the latest event time in the batch, epoch ms; [2] how far past
--   server time it may be, ms; [3] nh; [4] nz; [5] ni; [6] nd, deltas; [7] nn,
--   names; then nd deltas, each a bucket value
--   "requests,input,output,cache_create,cache_read,cost" with every count
--   at most 10^15; then nn names (fields and leaderboard members); then per hash
--   one descriptor "EXPIRY N:D N:D ..." (EXPIRY epoch s, 0 never; N a name,
--   D a delta, both 1-based indexes: field N gains delta D); then per three
--   leaderboards "EXPIRY M:C:K:R ..." (member name M gains cost C, tokens K,
--   requests R, each at most 10^15); then per id hash three arguments: its
--   expiry, epoch s (0: only checked), the 8-byte request-id fingerprints to
--   check and add, concatenated, and those only to check.
--   A hash or leaderboard whose expiry has passed is skipped (a late event past
--   retention). Bucket values are exact decimal integers up to 2^63-1.
--   Returns {"recorded", us}, or, writing nothing, {"duplicate", us, J, P, ...}
--   naming each fingerprint already present (id hash J; P its position in the
--   add list, or -P in the check list); us: how long the script ran.
local MAX_EXPIRY = 253402300799
local BASE = 1e15             -- low part of a split decimal: sums stay < 2^53
local SCORE_MAX = 9007199254740992
local BUCKET = "^(%d+),(%d+),(%d+),(%d+),(%d+),(%d+)$"
local VALUE = "%d,%d,%d,%d,%d,%d" -- Lua 5.1 %d formats a C long: exact below 2^53
local FP = 8

local function fail(msg) return redis.error_reply("EINVAL record_batch: " .. msg) end

local function whole(s, max)
  if not s or not s:match("^%d+$") or #s > 16 then return nil end
  local v = tonumber(s)
  if v > max then return nil end
  return v
end

-- Adds x (< BASE) to the decimal string s exactly; nil when past int64.
local function add(s, x)
  if #s <= 15 then return string.format("%.0f", tonumber(s) + x) end
  local hi, lo = tonumber(s:sub(1, -16)), tonumber(s:sub(-15)) + x
  if lo >= BASE then hi, lo = hi + 1, lo - BASE end
  if hi > 9223 or (hi == 9223 and lo > 372036854775807) then return nil end
  return string.format("%.0f%015.0f", hi, lo)
end

local t0 = redis.call("TIME")
local latest, future = whole(ARGV[1], 253402300799999), whole(ARGV[2], 86400000)
local nh, nz, ni = whole(ARGV[3], 1e6), whole(ARGV[4], 1e6), whole(ARGV[5], 1e6)
local nd, nn = whole(ARGV[6], 1e6), whole(ARGV[7], 1e6)
if not (latest and future and nh and nz and ni and nd and nn) or nz % 3 ~= 0 or nh + nz + ni ~= #KEYS
  or #ARGV ~= 7 + nd + nn + nh + nz / 3 + 3 * ni then
  return fail("KEYS and ARGV do not match the counts")
end
local now_s = tonumber(t0[1])
if latest > now_s * 1000 + math.floor(tonumber(t0[2]) / 1000) + future then
  return fail("an event time is in the future beyond the allowed " .. future .. " ms")
end

local dtext, dnum = {}, {}
for d = 1, nd do
  local s = ARGV[7 + d]
  local p1, p2, p3, p4, p5, p6 = s:match(BUCKET)
  if not p6 or #p1 > 16 or #p2 > 16 or #p3 > 16 or #p4 > 16 or #p5 > 16 or #p6 > 16
    or math.max(p1, p2, p3, p4, p5, p6) > BASE then
    return fail("delta " .. d .. " is not six counts of at most 10^15")
  end
  dtext[d] = s
  dnum[d] = { tonumber(p1), tonumber(p2), tonumber(p3), tonumber(p4), tonumber(p5), tonumber(p6) }
end
local names = { unpack(ARGV, 8 + nd, 7 + nd + nn) }
local at = 8 + nd + nn

-- Parses "EXPIRY A:B[:C:D] ..." from ARGV[i]: the expiry and the pairs or
-- quadruples as numbers; nil when malformed.
local function descriptor(i, quad, lead)
  local s, items = ARGV[i], {}
  local heads = {}
  local pos = 1
  for k = 1, lead do
    local x, nxt = s:match("^(%d+)()", pos)
    heads[k] = whole(x, MAX_EXPIRY)
    if not heads[k] then return nil end
    pos = nxt
    if k < lead then
      if s:sub(pos, pos) ~= " " then return nil end
      pos = pos + 1
    end
  end
  local pattern = quad and "^ (%d+):(%d+):(%d+):(%d+)()" or "^ (%d+):(%d+)()"
  while pos <= #s do
    local a, b, c, d, nxt
    if quad then a, b, c, d, nxt = s:match(pattern, pos) else a, b, nxt = s:match(pattern, pos) end
    if not nxt then return nil end
    items[#items + 1] = { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
    pos = nxt
  end
  if #items == 0 then return nil end
  return heads, items
end

local hashes = {}
for k = 1, nh do
  local heads, items = descriptor(at, false, 1)
  if not heads then return fail("bad descriptor of hash " .. k) end
  local fields, deltas = {}, {}
  for f, it in ipairs(items) do
    fields[f], deltas[f] = names[it[1]], it[2]
    if not fields[f] or not dtext[it[2]] then return fail("hash " .. k .. " names no such field or delta") end
  end
  if heads[1] == 0 or heads[1] > now_s then
    hashes[#hashes + 1] = { key = KEYS[k], expiry = heads[1], fields = fields, deltas = deltas }
  end
  at = at + 1
end
local boards = {}
for g = 1, nz / 3 do
  local heads, items = descriptor(at, true, 1)
  if not heads then return fail("bad descriptor of leaderboards " .. g) end
  local members = {}
  for m, it in ipairs(items) do
    members[m] = names[it[1]]
    if not members[m] or it[2] > BASE or it[3] > BASE or it[4] > BASE then
      return fail("leaderboards " .. g .. " name no such member or a bad increment")
    end
  end
  if heads[1] == 0 or heads[1] > now_s then
    for b = 1, 3 do -- items[m][2..4]: cost, tokens, requests
      boards[#boards + 1] = { key = KEYS[nh + 3 * (g - 1) + b], expiry = heads[1], members = members,
                              items = items, metric = b + 1 }
    end
  end
  at = at + 1
end
local ids = {}
for j = 1, ni do
  local expiry, adds, checks = whole(ARGV[at], MAX_EXPIRY), ARGV[at + 1], ARGV[at + 2]
  if not expiry or #adds % FP ~= 0 or #checks % FP ~= 0 or (expiry == 0 and #adds > 0) then
    return fail("bad request-id list " .. j)
  end
  local list = {}
  for p = 1, #adds, FP do list[#list + 1] = adds:sub(p, p + FP - 1) end
  local nadd = #list
  for p = 1, #checks, FP do list[#list + 1] = checks:sub(p, p + FP - 1) end
  ids[j] = { key = KEYS[nh + nz + j], expiry = expiry, list = list, nadd = nadd }
  at = at + 3
end

-- Reads: every check that can fail happens here, before the first write.
local dups = {}
for j, id in ipairs(ids) do
  if #id.list > 0 then
    local seen = redis.call("HMGET", id.key, unpack(id.list))
    for p = 1, #id.list do
      if seen[p] then
        dups[#dups + 1] = j
        dups[#dups + 1] = p <= id.nadd and p or id.nadd - p
      end
    end
  end
end
local function elapsed()
  local t1 = redis.call("TIME")
  return (tonumber(t1[1]) - now_s) * 1000000 + tonumber(t1[2]) - tonumber(t0[2])
end
if #dups > 0 then return { "duplicate", elapsed(), unpack(dups) } end

for _, h in ipairs(hashes) do
  local fields, deltas = h.fields, h.deltas
  local old = redis.call("HMGET", h.key, unpack(fields))
  local args = {}
  for f = 1, #fields do
    local v, di = old[f], deltas[f]
    local value
    if not v then
      h.fresh = true
      value = dtext[di]
    else
      local p1, p2, p3, p4, p5, p6 = v:match(BUCKET)
      if not p6 then
        return redis.error_reply("ERR tally: field " .. fields[f] .. " of " .. h.key .. " is not a bucket")
      end
      local d = dnum[di]
      if #p1 < 16 and #p2 < 16 and #p3 < 16 and #p4 < 16 and #p5 < 16 and #p6 < 16 then
        value = string.format(VALUE, p1 + d[1], p2 + d[2], p3 + d[3], p4 + d[4], p5 + d[5], p6 + d[6])
      else
        local parts = { p1, p2, p3, p4, p5, p6 }
        for m = 1, 6 do
          parts[m] = add(parts[m], d[m])
          if not parts[m] then return fail("a sum in " .. h.key .. " would pass 2^63-1") end
        end
        value = table.concat(parts, ",")
      end
    end
    args[2 * f - 1], args[2 * f] = fields[f], value
  end
  h.args = args
end
for _, b in ipairs(boards) do
  local scores = redis.call("ZMSCORE", b.key, unpack(b.members))
  local args = {}
  for m = 1, #b.members do
    if not scores[m] then b.fresh = true end
    local score = math.min((tonumber(scores[m]) or 0) + b.items[m][b.metric], SCORE_MAX) -- saturates at 2^53
    args[2 * m - 1], args[2 * m] = string.format("%d", score), b.members[m]
  end
  b.args = args
end

-- Writes: nothing below can fail on a well-formed dataset.
for _, h in ipairs(hashes) do
  redis.call("HSET", h.key, unpack(h.args))
  if h.fresh and h.expiry > 0 then redis.call("EXPIREAT", h.key, h.expiry, "NX") end
end
for _, b in ipairs(boards) do
  redis.call("ZADD", b.key, unpack(b.args))
  if b.fresh and b.expiry > 0 then redis.call("EXPIREAT", b.key, b.expiry, "NX") end
end
for _, id in ipairs(ids) do
  if id.nadd > 0 then
    local args = {}
    for p = 1, id.nadd do args[2 * p - 1], args[2 * p] = id.list[p], "1" end
    redis.call("HSET", id.key, unpack(args))
    redis.call("EXPIREAT", id.key, id.expiry, "NX")
  end
end
return { "recorded", elapsed() }
