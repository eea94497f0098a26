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
-- ARGV[1] nums: the call's numbers, a JSON array of whole numbers 0..2^53
--   (layout in c/wire.h): the head latest_ms (the latest event time of the
--   call, epoch ms), future_ms (how far past server TIME an event time may be,
--   ms, at most a day), nh (bucket hashes), ng (leaderboard threes), ni
--   (request-id hashes), np (prune keys), nr (budget entities whose
--   reservation to release: settle records the usage and gives the estimate
--   back, together; 0 for a record), nd (deltas), nn (names); then nd deltas
--   of six counts (requests, input, output, cache_create, cache_read, cost),
--   each at most 10^15; then per bucket hash EXPIRY (epoch s, 0 never; set
--   when the hash is created), UNTIL and HOURS_UNTIL (its fields are written
--   while it is ahead of server TIME, 0 always; hour buckets, the fields whose
--   names start with a digit, follow HOURS_UNTIL), PRUNE (a prune key, 0
--   none), NF, then NF times NAME DELTA: field NAME gains delta DELTA; then
--   per leaderboard three MODE, EXPIRY, NM, then NM members: with MODE 1 NAME
--   SOURCE (bucket hash SOURCE's "_" bucket, written by this call, gives the
--   member's scores: its cost, total tokens and requests), with MODE 0 NAME
--   COST TOKENS REQUESTS (what it gains on each of the three); last per
--   request-id hash its EXPIRY (epoch s; 0: only checked).
-- ARGV[2] reservation: the reservation's member (API key id, byte 0x1F,
--   request id: as reserve.lua's), or "".
-- ARGV[2+n] name: name n (1..nn), a bucket field or a leaderboard member.
-- ARGV[2+nn+2j-1] ids_add: id hash j's request ids to check and add, 24
--   bytes each, concatenated: the id's 16-byte field (docs/keys.md), then the
--   8-byte field an older tally wrote for it, which is only checked, in the
--   hashes that older tally created (those without the field "v").
-- ARGV[2+nn+2j] ids_check: the ids only to check, the same way.
-- Returns: {"recorded", us}, or, writing nothing but a settle's release,
--   {"duplicate", us, J, P, ...} naming each fingerprint already present (id
--   hash J; P its position in ids_add, -P in ids_check); us: how long the
--   script ran.
-- Everything is read and checked before the first write. Bucket values are
-- exact decimal integers up to 2^63-1; leaderboard scores saturate at 2^53.
-- On a cluster a call covers one entity (key, account or shard).
-- Work is kept in flat arrays indexed by position (hashes, fields, boards,
-- members), not a table per item: a call of one event touches ~10 hashes and
-- ~25 fields, and per-item tables were a large part of its cost.
local TIME_MAX_S = math.floor(lib.TALLY_AT_MAX / 1000)
local SCORE_MAX = 9007199254740992 -- 2^53: leaderboard scores saturate here
local DELTA_MAX = lib.TALLY_DELTA_MAX -- a count of a delta, and an increment
local HEAD, DELTA, HASH_HEAD, FIELD = lib.TALLY_WIRE_HEAD, lib.TALLY_WIRE_DELTA, lib.TALLY_WIRE_HASH_HEAD,
  lib.TALLY_WIRE_FIELD
local GROUP_HEAD, SOURCED = lib.TALLY_WIRE_GROUP_HEAD, lib.TALLY_WIRE_MODE_SOURCED
local MEMBER_SOURCED, MEMBER_INC = lib.TALLY_WIRE_MEMBER_SOURCED, lib.TALLY_WIRE_MEMBER_INC
local FP, FP_V0 = 16, 8 -- an id's field; the field of tally before 16-byte ones
local ENTRY = FP + FP_V0
local V2 = "v" -- a field of the id hashes created here: no 8-byte fields to check
local fail = lib.refusal("record")

local start_us = lib.now_us()
local now_s = math.floor(start_us / 1000000)
-- ARGV[1] holds digits and commas alone: every number is whole and >= 0; each
-- is range-checked where it is used.
local nums = ARGV[1]
local ok, v = false, nil
if nums:find("^%[[%d,]*%]$") then
  ok, v = pcall(cjson.decode, nums)
end
if not ok or type(v) ~= "table" or #v < HEAD then
  return fail("ARGV[1] is not a JSON array of the call's numbers ")
end
local nv = #v
local latest, future, nh, ng, ni, np, nr, nd, nn = unpack(v, 1, HEAD)
if latest > lib.TALLY_AT_MAX or future > lib.TALLY_FUTURE_MAX_MS or nr > 2
  or nh + 3 * ng + ni + np + 2 * nr ~= #KEYS or #ARGV ~= 2 + nn + 2 * ni then
  return fail("KEYS and ARGV do not match the counts")
end
local nz, resv = 3 * ng, ARGV[2]
if nr > 0 and not lib.is_member(resv) then
  return fail("settling needs the reservation's member: key id, byte 0x1F, request id")
end
if latest > math.floor(start_us / 1000) + future then
  return fail("an event time is in the future beyond the allowed " .. future .. " ms")
end
if nv < HEAD + DELTA * nd then return fail("ARGV[1] is shorter than its deltas") end

-- Deltas: their six counts stay in v (from dpos[d] + 1), their text is made once.
local dtext, dpos, at = {}, {}, HEAD
for d = 1, nd do
  local p1, p2, p3, p4, p5, p6 = unpack(v, at + 1, at + DELTA)
  if math.max(p1, p2, p3, p4, p5, p6) > DELTA_MAX then
    return fail("delta " .. d .. " is not six counts of at most 10^15")
  end
  dtext[d], dpos[d] = string.format(lib.BUCKET_FORMAT, p1, p2, p3, p4, p5, p6), at
  at = at + DELTA
end
local hourly = {} -- an hour bucket: the name starts with a digit
for n = 1, nn do
  local b = ARGV[2 + n]:byte(1)
  hourly[n] = b and b >= 48 and b <= 57
end

local function live(until_s) return until_s == 0 or until_s > now_s end

-- Bucket hashes: hash h (of those with a field to write) is KEYS kept[h], its
-- fields fname/fdelta[hfirst[h] .. hlast[h]]; a field past its retention is
-- skipped (a late event).
local kept, hexp, hprune, hfirst, hlast, by_index = {}, {}, {}, {}, {}, {}
local fname, fdelta, nk, nf = {}, {}, 0, 0
for k = 1, nh do
  if at + HASH_HEAD > nv then return fail("bad descriptor of hash " .. k) end
  local expiry, days, hours, prune, n = unpack(v, at + 1, at + HASH_HEAD)
  at = at + HASH_HEAD
  if n < 1 or prune > np or expiry > TIME_MAX_S or at + FIELD * n > nv then
    return fail("bad descriptor of hash " .. k)
  end
  days, hours = live(days), live(hours)
  local first = nf + 1
  for p = at + 1, at + FIELD * n, FIELD do
    local nx, di = v[p], v[p + 1]
    if nx < 1 or nx > nn or di < 1 or di > nd then
      return fail("hash " .. k .. " names no such field or delta")
    end
    if hourly[nx] and hours or not hourly[nx] and days then
      nf = nf + 1
      fname[nf], fdelta[nf] = ARGV[2 + nx], di
    end
  end
  at = at + FIELD * n
  if nf >= first then
    nk = nk + 1
    kept[nk], hexp[nk], hfirst[nk], hlast[nk] = k, expiry, first, nf
    hprune[nk] = prune > 0 and KEYS[nh + nz + ni + prune]
    by_index[k] = nk
  end
end

-- Leaderboards: board b (of the live threes) is KEYS bkey[b], scored by metric
-- bmetric[b] (1 cost, 2 tokens, 3 requests), its members mname[bfirst[b] ..
-- blast[b]], each scored from bucket hash msrc[m] (by_index) or gaining
-- minc[3m-2 .. 3m] (cost, tokens, requests).
local bkey, bexp, bmetric, bfirst, blast, bsourced = {}, {}, {}, {}, {}, {}
local mname, msrc, minc, nb, nm = {}, {}, {}, 0, 0
for g = 1, ng do
  if at + GROUP_HEAD > nv then return fail("bad descriptor of leaderboards " .. g) end
  local mode, expiry, n = unpack(v, at + 1, at + GROUP_HEAD)
  at = at + GROUP_HEAD
  local sourced = mode == SOURCED
  local size = sourced and MEMBER_SOURCED or MEMBER_INC
  if mode > 1 or n < 1 or expiry > TIME_MAX_S or at + size * n > nv then
    return fail("bad descriptor of leaderboards " .. g)
  end
  local first = nm + 1
  for p = at + 1, at + size * n, size do
    local nx = v[p]
    nm = nm + 1
    mname[nm] = nx >= 1 and nx <= nn and ARGV[2 + nx]
    if sourced then
      msrc[nm] = v[p + 1]
      if not mname[nm] or msrc[nm] < 1 or msrc[nm] > nh then
        return fail("leaderboards " .. g .. " name no such member or source")
      end
    else
      local c, t, r = v[p + 1], v[p + 2], v[p + 3]
      if not mname[nm] or c > DELTA_MAX or t > DELTA_MAX or r > DELTA_MAX then
        return fail("leaderboards " .. g .. " name no such member or a bad increment")
      end
      minc[3 * nm - 2], minc[3 * nm - 1], minc[3 * nm] = c, t, r
    end
  end
  at = at + size * n
  if live(expiry) then
    for b = 1, 3 do
      nb = nb + 1
      bkey[nb], bexp[nb], bmetric[nb], bfirst[nb], blast[nb], bsourced[nb] =
        KEYS[nh + 3 * (g - 1) + b], expiry, b, first, nm, sourced
    end
  end
end
if at + ni ~= nv then
  return fail("ARGV[1] holds " .. nv .. " numbers, its counts give " .. at + ni)
end
local ids = {}
for j = 1, ni do
  local expiry, adds, checks = v[at + j], ARGV[1 + nn + 2 * j], ARGV[2 + nn + 2 * j]
  if expiry > TIME_MAX_S or #adds % ENTRY ~= 0 or #checks % ENTRY ~= 0 or (expiry == 0 and #adds > 0) then
    return fail("bad request-id list " .. j)
  end
  local list = {}
  for p = 1, #adds, ENTRY do list[#list + 1] = adds:sub(p, p + FP - 1) end
  for p = 1, #checks, ENTRY do list[#list + 1] = checks:sub(p, p + FP - 1) end
  ids[j] = { key = KEYS[nh + nz + j], expiry = expiry, list = list, adds = adds, checks = checks,
             nadd = #adds / ENTRY }
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
    id.v2 = seen[1]
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

-- New bucket values: field f's name and value at fv[2f-1], fv[2f]; a hash's
-- "_" bucket gives its members' scores (cost, tokens, requests) in
-- score[3h-2 .. 3h].
local fv, hfresh, hgone, score = {}, {}, {}, {}
for h = 1, nk do
  local key, first, last = KEYS[kept[h]], hfirst[h], hlast[h]
  local old = lib.call_spread("HMGET", key, fname, first, last)
  local created
  for f = first, last do
    local o, p = old[f - first + 1], dpos[fdelta[f]]
    local value, n1, n2, n3, n4, n5, n6
    if not o then
      hfresh[h] = true
      value = dtext[fdelta[f]]
      n1, n2, n3, n4, n5, n6 = v[p + 1], v[p + 2], v[p + 3], v[p + 4], v[p + 5], v[p + 6]
    else
      local p1, p2, p3, p4, p5, p6 = lib.bucket(o)
      if not p6 then return lib.foreign("field " .. fname[f] .. " of " .. key .. " is not a bucket") end
      if #p1 < 16 and #p2 < 16 and #p3 < 16 and #p4 < 16 and #p5 < 16 and #p6 < 16 then
        n1, n2, n3, n4, n5, n6 = p1 + v[p + 1], p2 + v[p + 2], p3 + v[p + 3], p4 + v[p + 4], p5 + v[p + 5],
          p6 + v[p + 6]
        value = string.format(lib.BUCKET_FORMAT, n1, n2, n3, n4, n5, n6)
      else
        local parts = { p1, p2, p3, p4, p5, p6 }
        for m = 1, 6 do
          parts[m] = lib.add_exact(parts[m], v[p + m])
          if not parts[m] then return fail("a sum in " .. key .. " would pass 2^63-1") end
        end
        value = table.concat(parts, ",")
        n1, n2, n3, n4, n5, n6 = tonumber(parts[1]), tonumber(parts[2]), tonumber(parts[3]),
          tonumber(parts[4]), tonumber(parts[5]), tonumber(parts[6])
      end
    end
    -- an entity's bucket: a leaderboard member's scores (cost, tokens, requests)
    if fname[f] == "_" then
      score[3 * h - 2], score[3 * h - 1], score[3 * h] = n6, n2 + n3 + n4 + n5, n1
      created = not o
    end
    fv[2 * f - 1], fv[2 * f] = fname[f], value
  end
  if hprune[h] and created then
    local gone = {}
    for _, name in ipairs(redis.call("HKEYS", hprune[h])) do
      if name:find("^%d") then gone[#gone + 1] = name end
    end
    hgone[h] = gone
  end
end
-- A member's scores are its key's bucket of the period when the call holds it
-- (the ranking is that bucket, saturating at 2^53), else its old scores plus
-- the increments: zargs[b] holds board b's ZADD arguments.
local zargs = {}
for b = 1, nb do
  local zv, first, metric = {}, bfirst[b], bmetric[b]
  if bsourced[b] then
    redis.call("ZCARD", bkey[b]) -- type check before any write
    for m = first, blast[b] do
      local h = by_index[msrc[m]]
      local s = h and score[3 * h - 3 + metric]
      if not s then return fail("leaderboard source " .. KEYS[msrc[m]] .. " has no entity bucket") end
      zv[2 * (m - first) + 1], zv[2 * (m - first) + 2] = lib.istr(math.min(s, SCORE_MAX)), mname[m]
    end
  else
    local scores = lib.call_spread("ZMSCORE", bkey[b], mname, first, blast[b])
    for m = first, blast[b] do
      local s = math.min((tonumber(scores[m - first + 1]) or 0) + minc[3 * m - 3 + metric], SCORE_MAX)
      zv[2 * (m - first) + 1], zv[2 * (m - first) + 2] = lib.istr(s), mname[m]
    end
  end
  zargs[b] = zv
end

-- Writes: nothing below can fail on a well-formed dataset. Hours past their
-- retention go first, so that hours this call writes stay.
for h = 1, nk do
  if hgone[h] and #hgone[h] > 0 then lib.call_spread("HDEL", hprune[h], hgone[h]) end
end
for h = 1, nk do
  local key = KEYS[kept[h]]
  lib.call_spread("HSET", key, fv, 2 * hfirst[h] - 1, 2 * hlast[h])
  if hfresh[h] and hexp[h] > 0 then redis.call("EXPIREAT", key, hexp[h], "NX") end
end
for b = 1, nb do
  local added = lib.call_spread("ZADD", bkey[b], zargs[b])
  -- a new member may mean a new board; NX keeps an expiry already set
  if bexp[b] > 0 and (type(added) ~= "number" or added > 0) then
    redis.call("EXPIREAT", bkey[b], bexp[b], "NX")
  end
end
for _, id in ipairs(ids) do
  if id.nadd > 0 then
    local args = {}
    for p = 1, id.nadd do args[2 * p - 1], args[2 * p] = id.list[p], "1" end
    if id.fresh then args[2 * id.nadd + 1], args[2 * id.nadd + 2] = V2, "1" end
    lib.call_spread("HSET", id.key, args)
    -- a hash with "v" got its expiry when this script created it
    if not id.v2 then redis.call("EXPIREAT", id.key, id.expiry, "NX") end
  end
end
release()
return { "recorded", elapsed() }
