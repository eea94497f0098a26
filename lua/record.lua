#!lua
-- Records usage events, merged by the host into bucket and leaderboard deltas, all or nothing.
-- KEYS[1..nh] buckets: bucket hashes (docs/keys.md).
-- KEYS[nh+1..nh+3ng] boards: leaderboards in threes: cost, tokens, requests (c,
--   k, r) of one period.
-- KEYS[nh+3ng+1..nh+3ng+ni] ids: request-id hashes.
-- KEYS[nh+3ng+ni+1..nh+3ng+ni+np] prunes: day hashes whose hour fields go
--   when a bucket hash that names them is created.
-- KEYS[nh+3ng+ni+np+2j-1] reservations: settle, budget entity j (1..nr): its
--   reservations hash.
-- KEYS[nh+3ng+ni+np+2j] leases: entity j's leases sorted set.
-- ARGV[1] latest_ms: the latest event time of the call, epoch ms.
-- ARGV[2] future_ms: how far past server TIME an event time may be (ms, at
--   most a day).
-- ARGV[3] nh: the number of bucket hashes.
-- ARGV[4] ng: the number of leaderboard threes.
-- ARGV[5] ni: the number of request-id hashes.
-- ARGV[6] np: the number of prune keys.
-- ARGV[7] nr: budget entities whose reservation to release (settle: the usage
--   is recorded and the estimate given back, together); 0 for a record.
-- ARGV[8] reservation: the reservation's member (API key id, byte 0x1F,
--   request id: as reserve.lua's), or "".
-- ARGV[9] nd: the number of deltas.
-- ARGV[10] nn: the number of names.
-- ARGV[10+d] delta: delta d (1..nd), a bucket value
--   "requests,input,output,cache_create,cache_read,cost", each count at most
--   10^15.
-- ARGV[10+nd+n] name: name n (1..nn), a bucket field or a leaderboard member.
-- ARGV[10+nd+nn+h] hash: bucket hash h's descriptor, fixed-width decimal:
--   EXPIRY (12 digits: epoch s, 0 never; set when the hash is created), UNTIL
--   and HOURS_UNTIL (12 digits each: fields are written while it is ahead of
--   server TIME, 0 always; hour buckets, the fields whose names start with a
--   digit, follow HOURS_UNTIL), PRUNE (7 digits: a prune key, 0 none), then
--   per field NAME and DELTA (7 digits each): field NAME gains delta DELTA.
-- ARGV[10+nd+nn+nh+g] board: leaderboard three g's descriptor: MODE (1 digit),
--   EXPIRY (12 digits), then per member NAME (7 digits) and, with MODE 1,
--   SOURCE (7 digits): bucket hash SOURCE's "_" bucket, written by this call,
--   gives the member's scores (its cost, total tokens and requests); with MODE
--   0, COST, TOKENS, REQUESTS (16 digits each): what it gains on each of the
--   three.
-- ARGV[10+nd+nn+nh+ng+3j-2] ids_expiry: id hash j's expiry, epoch s (0: only
--   checked).
-- ARGV[10+nd+nn+nh+ng+3j-1] ids_add: the request ids to check and add, 24
--   bytes each, concatenated: the id's 16-byte field (docs/keys.md), then the
--   8-byte field an older tally wrote for it, which is only checked, in the
--   hashes that older tally created (those without the field "v").
-- ARGV[10+nd+nn+nh+ng+3j] ids_check: the ids only to check, the same way.
-- Returns: {"recorded", us}, or, writing nothing but a settle's release,
--   {"duplicate", us, J, P, ...} naming each fingerprint already present (id
--   hash J; P its position in ids_add, -P in ids_check); us: how long the
--   script ran.
-- Everything is read and checked before the first write. Bucket values are
-- exact decimal integers up to 2^63-1; leaderboard scores saturate at 2^53.
-- On a cluster a call covers one entity (key, account or shard).
local TIME_MAX_S = math.floor(lib.TALLY_AT_MAX / 1000)
local SCORE_MAX = 9007199254740992 -- 2^53: leaderboard scores saturate here
local DELTA_MAX = lib.TALLY_DELTA_MAX -- a count of a delta, and an increment
local FP, FP_V0 = 16, 8 -- an id's field; the field of tally before 16-byte ones
local ENTRY = FP + FP_V0
local V2 = "v" -- a field of the id hashes created here: no 8-byte fields to check
local fail = lib.refusal("record")

local start_us = lib.now_us()
local now_s = math.floor(start_us / 1000000)
local latest, future = lib.int(ARGV[1], 0, lib.TALLY_AT_MAX), lib.int(ARGV[2], 0, lib.TALLY_FUTURE_MAX_MS)
local nh, ng, ni = lib.int(ARGV[3], 0, 1e6), lib.int(ARGV[4], 0, 1e6), lib.int(ARGV[5], 0, 1e6)
local np, nr, resv = lib.int(ARGV[6], 0, 1e6), lib.int(ARGV[7], 0, 2), ARGV[8]
local nd, nn = lib.int(ARGV[9], 0, 1e6), lib.int(ARGV[10], 0, 1e6)
if not (latest and future and nh and ng and ni and np and nr and resv and nd and nn)
  or nh + 3 * ng + ni + np + 2 * nr ~= #KEYS or #ARGV ~= 10 + nd + nn + nh + ng + 3 * ni then
  return fail("KEYS and ARGV do not match the counts")
end
local nz = 3 * ng
if nr > 0 and not lib.is_member(resv) then
  return fail("settling needs the reservation's member: key id, byte 0x1F, request id")
end
if latest > math.floor(start_us / 1000) + future then
  return fail("an event time is in the future beyond the allowed " .. future .. " ms")
end

local dtext, dnum = {}, {}
for d = 1, nd do
  local s = ARGV[10 + d]
  local p1, p2, p3, p4, p5, p6 = lib.bucket(s)
  if not p6 or #p1 > 16 or #p2 > 16 or #p3 > 16 or #p4 > 16 or #p5 > 16 or #p6 > 16
    or math.max(p1, p2, p3, p4, p5, p6) > DELTA_MAX then
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

-- Descriptors are fixed-width decimal numbers: the count of items, or nil
-- when ARGV[i] is not `head` digits then whole items of `size` digits.
local function items_of(i, head, size)
  local s = ARGV[i]
  local n = (#s - head) / size
  if n < 1 or n ~= math.floor(n) or not s:find("^%d+$") then return nil end
  return n, s
end

local function live(until_s) return until_s == 0 or until_s > now_s end

-- The 7-digit number at s[p..p+6], from its bytes: no substring, no strtod
-- (items_of has checked that s is all digits). 53333328 is 48 * 1111111.
local byte = string.byte
local function index_at(s, p)
  local a, b, c, d, e, f, g = byte(s, p, p + 6)
  return a * 1000000 + b * 100000 + c * 10000 + d * 1000 + e * 100 + f * 10 + g - 53333328
end
-- The two 7-digit numbers at s[p..p+13] (a field's NAME and DELTA), from one call.
local function pair_at(s, p)
  local a, b, c, d, e, f, g, h, i, j, k, l, m, n = byte(s, p, p + 13)
  return a * 1000000 + b * 100000 + c * 10000 + d * 1000 + e * 100 + f * 10 + g - 53333328,
    h * 1000000 + i * 100000 + j * 10000 + k * 1000 + l * 100 + m * 10 + n - 53333328
end

local hashes, by_index = {}, {}
for k = 1, nh do
  local n, s = items_of(at, 43, 14)
  local prune = n and index_at(s, 37)
  if not n or prune > np then return fail("bad descriptor of hash " .. k) end
  local h = { key = KEYS[k], expiry = tonumber(s:sub(1, 12), 10), fields = {}, deltas = {} }
  by_index[k] = h
  if prune > 0 then h.prune = KEYS[nh + nz + ni + prune] end
  local days, hours = live(tonumber(s:sub(13, 24), 10)), live(tonumber(s:sub(25, 36), 10))
  local fields, deltas = h.fields, h.deltas
  for p = 44, #s, 14 do
    local nx, di = pair_at(s, p)
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
for g = 1, ng do
  local sourced = ARGV[at]:byte(1) == 49 -- MODE 1
  local size = sourced and 14 or 55
  local n, s = items_of(at, 13, size)
  if not n then return fail("bad descriptor of leaderboards " .. g) end
  local members, incs, sources = {}, { {}, {}, {} }, {} -- incs[b][m]: cost, tokens, requests
  for m = 1, n do
    local p = 14 + size * (m - 1)
    if sourced then
      local nx, src = pair_at(s, p)
      members[m], sources[m] = names[nx], by_index[src]
      if not (members[m] and sources[m]) then
        return fail("leaderboards " .. g .. " name no such member or source")
      end
    else
      members[m] = names[index_at(s, p)]
      for b = 1, 3 do incs[b][m] = tonumber(s:sub(p + 16 * b - 9, p + 16 * b + 6), 10) end
      if not members[m] or incs[1][m] > DELTA_MAX or incs[2][m] > DELTA_MAX or incs[3][m] > DELTA_MAX then
        return fail("leaderboards " .. g .. " name no such member or a bad increment")
      end
    end
  end
  local expiry = tonumber(s:sub(2, 13), 10)
  if live(expiry) then
    for b = 1, 3 do
      boards[#boards + 1] = { key = KEYS[nh + 3 * (g - 1) + b], expiry = expiry, members = members,
                              inc = incs[b], sources = sourced and sources, metric = b }
    end
  end
  at = at + 1
end
local ids = {}
for j = 1, ni do
  local expiry, adds, checks = lib.int(ARGV[at], 0, TIME_MAX_S), ARGV[at + 1], ARGV[at + 2]
  if not expiry or #adds % ENTRY ~= 0 or #checks % ENTRY ~= 0 or (expiry == 0 and #adds > 0) then
    return fail("bad request-id list " .. j)
  end
  local list = {}
  for p = 1, #adds, ENTRY do list[#list + 1] = adds:sub(p, p + FP - 1) end
  for p = 1, #checks, ENTRY do list[#list + 1] = checks:sub(p, p + FP - 1) end
  ids[j] = { key = KEYS[nh + nz + j], expiry = expiry, list = list, adds = adds, checks = checks,
             nadd = #adds / ENTRY }
  at = at + 3
end

-- Reads: every check that can fail happens here, before the first write.
local releases = {}
for k = 1, nr do
  local at_key = nh + nz + ni + np + 2 * k
  local r, refused = lib.release_read(KEYS[at_key - 1], KEYS[at_key], resv)
  if refused then return refused end
  releases[#releases + 1] = r
end
local dups = {}
for j, id in ipairs(ids) do
  if #id.list > 0 then
    local seen, seen_v0 = redis.call("HMGET", id.key, V2, unpack(id.list)), {}
    if not seen[1] then -- a hash an older tally created, or none yet
      if redis.call("EXISTS", id.key) == 1 then
        local old = {} -- the 8-byte fields, in the order of id.list
        for _, entries in ipairs({ id.adds, id.checks }) do
          for p = FP + 1, #entries, ENTRY do old[#old + 1] = entries:sub(p, p + FP_V0 - 1) end
        end
        seen_v0 = redis.call("HMGET", id.key, unpack(old))
      else
        id.fresh = true
      end
    end
    for p = 1, #id.list do
      if seen[p + 1] or seen_v0[p] then
        dups[#dups + 1] = j
        dups[#dups + 1] = p <= id.nadd and p or id.nadd - p
      end
    end
  end
end
-- Gives the reservations back (settle): the estimate leaves the held sums.
local function release()
  for _, r in ipairs(releases) do lib.release_write(r, resv) end
end
local function elapsed() return lib.now_us() - start_us end
if #dups > 0 then
  release()
  return { "duplicate", elapsed(), unpack(dups) }
end

for _, h in ipairs(hashes) do
  local fields, deltas = h.fields, h.deltas
  local old = lib.call_spread("HMGET", h.key, fields)
  local args = {}
  for f = 1, #fields do
    local v, di = old[f], deltas[f]
    local value, n1, n2, n3, n4, n5, n6
    local d = dnum[di]
    if not v then
      h.fresh = true
      value = dtext[di]
      n1, n2, n3, n4, n5, n6 = d[1], d[2], d[3], d[4], d[5], d[6]
    else
      local p1, p2, p3, p4, p5, p6 = lib.bucket(v)
      if not p6 then return lib.foreign("field " .. fields[f] .. " of " .. h.key .. " is not a bucket") end
      if #p1 < 16 and #p2 < 16 and #p3 < 16 and #p4 < 16 and #p5 < 16 and #p6 < 16 then
        n1, n2, n3, n4, n5, n6 = p1 + d[1], p2 + d[2], p3 + d[3], p4 + d[4], p5 + d[5], p6 + d[6]
        value = string.format(lib.BUCKET_FORMAT, n1, n2, n3, n4, n5, n6)
      else
        local parts = { p1, p2, p3, p4, p5, p6 }
        for m = 1, 6 do
          parts[m] = lib.add_exact(parts[m], d[m])
          if not parts[m] then return fail("a sum in " .. h.key .. " would pass 2^63-1") end
        end
        value = table.concat(parts, ",")
        n1, n2, n3, n4, n5, n6 = tonumber(parts[1]), tonumber(parts[2]), tonumber(parts[3]),
          tonumber(parts[4]), tonumber(parts[5]), tonumber(parts[6])
      end
    end
    -- an entity's bucket: a leaderboard member's scores (cost, tokens, requests)
    if fields[f] == "_" then h.score = { n6, n2 + n3 + n4 + n5, n1 } end
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
-- A member's scores are its key's bucket of the period when the call holds it
-- (the ranking is that bucket, saturating at 2^53), else its old scores plus
-- the increments.
for _, b in ipairs(boards) do
  local args = {}
  if b.sources then
    redis.call("ZCARD", b.key) -- type check before any write
    for m = 1, #b.members do
      local score = b.sources[m].score
      if not score then return fail("leaderboard source " .. b.sources[m].key .. " has no entity bucket") end
      args[2 * m - 1], args[2 * m] = lib.istr(math.min(score[b.metric], SCORE_MAX)), b.members[m]
    end
  else
    local scores = lib.call_spread("ZMSCORE", b.key, b.members)
    for m = 1, #b.members do
      local score = math.min((tonumber(scores[m]) or 0) + b.inc[m], SCORE_MAX)
      args[2 * m - 1], args[2 * m] = lib.istr(score), b.members[m]
    end
  end
  b.args = args
end

-- Writes: nothing below can fail on a well-formed dataset. Hours past their
-- retention go first, so that hours this call writes stay.
for _, h in ipairs(hashes) do
  if h.gone and #h.gone > 0 then lib.call_spread("HDEL", h.prune, h.gone) end
end
for _, h in ipairs(hashes) do
  lib.call_spread("HSET", h.key, h.args)
  if h.fresh and h.expiry > 0 then redis.call("EXPIREAT", h.key, h.expiry, "NX") end
end
for _, b in ipairs(boards) do
  local added = lib.call_spread("ZADD", b.key, b.args)
  -- a new member may mean a new board; NX keeps an expiry already set
  if b.expiry > 0 and (type(added) ~= "number" or added > 0) then
    redis.call("EXPIREAT", b.key, b.expiry, "NX")
  end
end
for _, id in ipairs(ids) do
  if id.nadd > 0 then
    local args = {}
    for p = 1, id.nadd do args[2 * p - 1], args[2 * p] = id.list[p], "1" end
    if id.fresh then args[2 * id.nadd + 1], args[2 * id.nadd + 2] = V2, "1" end
    lib.call_spread("HSET", id.key, args)
    redis.call("EXPIREAT", id.key, id.expiry, "NX")
  end
end
release()
return { "recorded", elapsed() }
