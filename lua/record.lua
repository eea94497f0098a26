#!lua
-- Records usage events, merged by the host into bucket and leaderboard deltas, all or nothing.
-- KEYS: nh bucket hashes; nz leaderboard sorted sets in threes (cost, tokens,
--   requests of one period); ni request-id hashes; np day hashes whose hours
--   to prune; 2 * nr reservation pairs (reservations hash, leases sorted set)
--   to release (settle).
-- ARGV: [1] the latest event time, epoch ms; [2] how far past server time it
--   may be, ms; [3] nh; [4] nz; [5] ni; [6] np; [7] nr; [8] the reservation's
--   member (key id, byte 0x1F, request id; "" when nr is 0); [9] nd, deltas;
--   [10] nn, names; then nd deltas, each a bucket value
--   "requests,input,output,cache_create,cache_read,cost" (counts at most
--   10^15); then nn names (fields, leaderboard members); then per hash its
--   descriptor, little-endian binary: struct "<I5I5I5I3" (EXPIRY, UNTIL,
--   HOURS_UNTIL, PRUNE), then per field "<I3I3" (N, D: field name N gains
--   delta D, 1-based indexes). Fields named with a leading digit are hour
--   buckets, written while HOURS_UNTIL is ahead of server time, the others
--   while UNTIL is (0: always); EXPIRY (epoch s, 0 never) is set when the hash
--   is created; PRUNE, when not 0, names a prune key whose hour fields go when
--   this hash is created. Then per three leaderboards "<I5" (EXPIRY) and per
--   member "<I3I7I7I7" (member name M gains cost C, tokens K, requests R,
--   each at most 10^15);
--   then per id hash: its expiry, epoch s (0: only checked), the 8-byte
--   request-id fingerprints to check and add (concatenated), and those only
--   to check.
--   Bucket values are exact decimal integers up to 2^63-1. Returns
--   {"recorded", us}, or, writing nothing but the release, {"duplicate", us,
--   J, P, ...} naming each fingerprint already present (id hash J; P its
--   position in the add list, -P in the check list); us: how long it ran.
local MAX_EXPIRY = 253402300799
local BASE = 1e15             -- low part of a split decimal: sums stay < 2^53
local SCORE_MAX = 9007199254740992
local BUCKET = "^(%d+),(%d+),(%d+),(%d+),(%d+),(%d+)$"
local VALUE = "%d,%d,%d,%d,%d,%d" -- Lua 5.1 %d formats a C long: exact below 2^53
local FP = 8

local function fail(msg) return redis.error_reply("EINVAL record: " .. msg) end

local function whole(s, max)
  if not s or not s:match("^%d+$") or #s > 16 then return nil end
  local v = tonumber(s)
  if v > max then return nil end
  return v
end

-- Adds x (<= BASE) to the decimal string s exactly; nil when past int64.
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
local np, nr, resv = whole(ARGV[6], 1e6), whole(ARGV[7], 2), ARGV[8]
local nd, nn = whole(ARGV[9], 1e6), whole(ARGV[10], 1e6)
if not (latest and future and nh and nz and ni and np and nr and resv and nd and nn) or nz % 3 ~= 0
  or nh + nz + ni + np + 2 * nr ~= #KEYS or #ARGV ~= 10 + nd + nn + nh + nz / 3 + 3 * ni then
  return fail("KEYS and ARGV do not match the counts")
end
if nr > 0 and not resv:find("^[^\31]+\31[^\31]+$") then
  return fail("settling needs the reservation's member: key id, byte 0x1F, request id")
end
local now_s = tonumber(t0[1])
if latest > now_s * 1000 + math.floor(tonumber(t0[2]) / 1000) + future then
  return fail("an event time is in the future beyond the allowed " .. future .. " ms")
end

local dtext, dnum = {}, {}
for d = 1, nd do
  local s = ARGV[10 + d]
  local p1, p2, p3, p4, p5, p6 = s:match(BUCKET)
  if not p6 or #p1 > 16 or #p2 > 16 or #p3 > 16 or #p4 > 16 or #p5 > 16 or #p6 > 16
    or math.max(p1, p2, p3, p4, p5, p6) > BASE then
    return fail("delta " .. d .. " is not six counts of at most 10^15")
  end
  dtext[d] = s
  dnum[d] = { tonumber(p1), tonumber(p2), tonumber(p3), tonumber(p4), tonumber(p5), tonumber(p6) }
end
local names, hourly = { unpack(ARGV, 11 + nd, 10 + nd + nn) }, {}
for i = 1, nn do
  local b = names[i]:byte(1)
  hourly[i] = b and b >= 48 and b <= 57 -- an hour bucket: the name starts with a digit
end
local at = 11 + nd + nn

-- Decodes descriptor ARGV[i]: `head` bytes of heads, then items of `size`
-- bytes, struct formats hfmt and ifmt (formats caches them by item count).
-- Returns the numbers (heads, then the items' fields in order) and the item
-- count, or nil when malformed.
local function descriptor(i, head, hfmt, size, ifmt, formats)
  local s = ARGV[i]
  local n = (#s - head) / size
  if n < 1 or n ~= math.floor(n) then return nil end
  local f = formats[n]
  if not f then
    f = "<" .. hfmt .. string.rep(ifmt, n)
    formats[n] = f
  end
  return { struct.unpack(f, s) }, n
end

local function live(until_s) return until_s == 0 or until_s > now_s end

local hashes, hash_formats, board_formats = {}, {}, {}
for k = 1, nh do
  local v, n = descriptor(at, 18, "I5I5I5I3", 6, "I3I3", hash_formats)
  if not v or v[4] > np then return fail("bad descriptor of hash " .. k) end
  local h = { key = KEYS[k], expiry = v[1], fields = {}, deltas = {} }
  if v[4] > 0 then h.prune = KEYS[nh + nz + ni + v[4]] end
  local days, hours = live(v[2]), live(v[3])
  local fields, deltas = h.fields, h.deltas
  for f = 1, n do
    local nx, di = v[3 + 2 * f], v[4 + 2 * f]
    if not names[nx] or not dtext[di] then return fail("hash " .. k .. " names no such field or delta") end
    if hourly[nx] then
      if hours then fields[#fields + 1], deltas[#deltas + 1] = names[nx], di end
    elseif days then
      fields[#fields + 1], deltas[#deltas + 1] = names[nx], di
    end
  end
  -- a field past its retention is skipped (a late event)
  if #h.fields > 0 then hashes[#hashes + 1] = h end
  at = at + 1
end
local boards = {}
for g = 1, nz / 3 do
  local v, n = descriptor(at, 5, "I5", 24, "I3I7I7I7", board_formats)
  if not v then return fail("bad descriptor of leaderboards " .. g) end
  local members = {}
  for m = 1, n do
    local o = 4 * (m - 1) + 1
    members[m] = names[v[o + 1]]
    if not members[m] or v[o + 2] > BASE or v[o + 3] > BASE or v[o + 4] > BASE then
      return fail("leaderboards " .. g .. " name no such member or a bad increment")
    end
  end
  if live(v[1]) then
    for b = 1, 3 do -- per member m, v[4m - 1 + b]: cost, tokens, requests
      boards[#boards + 1] = { key = KEYS[nh + 3 * (g - 1) + b], expiry = v[1], members = members, v = v,
                              metric = b }
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
local releases = {}
for k = 1, nr do
  local at_key = nh + nz + ni + np + 2 * k
  local held, leases = KEYS[at_key - 1], KEYS[at_key]
  local got = redis.call("HMGET", held, "r:" .. resv, "=")
  redis.call("ZSCORE", leases, resv) -- type check before any write
  if got[1] then
    local c, t = got[1]:match("^(%d+),(%d+)$")
    local sc, st = (got[2] or "0,0"):match("^(%d+),(%d+)$")
    if not (c and sc) then
      return redis.error_reply("ERR tally: " .. held .. " is not a reservations hash")
    end
    releases[#releases + 1] = { held = held, leases = leases,
                                sums = string.format("%.0f,%.0f", math.max(0, sc - c), math.max(0, st - t)) }
  end
end
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
-- Gives the reservations back (settle): the estimate leaves the held sums.
local function release()
  for _, r in ipairs(releases) do
    redis.call("HSET", r.held, "=", r.sums)
    redis.call("HDEL", r.held, "r:" .. resv)
    redis.call("ZREM", r.leases, resv)
  end
end
local function elapsed()
  local t1 = redis.call("TIME")
  return (tonumber(t1[1]) - now_s) * 1000000 + tonumber(t1[2]) - tonumber(t0[2])
end
if #dups > 0 then
  release()
  return { "duplicate", elapsed(), unpack(dups) }
end

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
    if fields[f] == "_" and not v then h.created = true end
    args[2 * f - 1], args[2 * f] = fields[f], value
  end
  h.args = args
  if h.prune and h.created then
    local gone = {}
    for _, f in ipairs(redis.call("HKEYS", h.prune)) do
      if f:find("^%d") then gone[#gone + 1] = f end
    end
    h.gone = gone
  end
end
for _, b in ipairs(boards) do
  local scores = redis.call("ZMSCORE", b.key, unpack(b.members))
  local args = {}
  for m = 1, #b.members do
    if not scores[m] then b.fresh = true end
    -- the ranking saturates at 2^53
    local score = math.min((tonumber(scores[m]) or 0) + b.v[4 * m - 2 + b.metric], SCORE_MAX)
    args[2 * m - 1], args[2 * m] = string.format("%d", score), b.members[m]
  end
  b.args = args
end

-- Writes: nothing below can fail on a well-formed dataset. Hours past their
-- retention go first, so that hours this call writes stay.
for _, h in ipairs(hashes) do
  if h.gone and #h.gone > 0 then redis.call("HDEL", h.prune, unpack(h.gone)) end
end
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
release()
return { "recorded", elapsed() }
