#!lua
-- Records usage events, merged by the host into bucket deltas, all or nothing.
-- KEYS[1..nh] buckets: bucket hashes (docs/keys.md).
-- KEYS[nh+1..nh+ni] ids: request-id hashes.
-- KEYS[nh+ni+1..nh+ni+np] prunes: day hashes whose hour fields go when a
--   bucket hash that names them is created.
-- KEYS[nh+ni+np+2j-1] reservations: settle, budget entity j (1..nr): its
--   reservations hash.
-- KEYS[nh+ni+np+2j] leases: entity j's leases sorted set.
-- ARGV[1] nums: the call's numbers, a JSON array of whole numbers (layout in
--   c/wire.h): the head latest_ms (the latest event time of the call, epoch
--   ms), future_ms (how far past server TIME an event time may be, ms, at most
--   a day), nh (bucket hashes), ni (request-id hashes), np (prune keys), nr
--   (budget entities whose reservation to release: settle records the usage
--   and gives the estimate back, together; 0 for a record), nd (deltas), nn
--   (names), timed (1: report us, 0: do not, one TIME less); then nd deltas
--   of six counts
--   (requests, input, output, cache_create, cache_read, cost), each at most
--   10^15; then per bucket hash EXPIRY (epoch s, 0 never; set when the hash is
--   created), UNTIL and HOURS_UNTIL (its day fields are written while UNTIL is
--   ahead of server TIME, its hour fields while HOURS_UNTIL is; 0 always),
--   PRUNE (a prune key, 0 none), DAYS and HOURS (its fields: the next DAYS
--   names are day fields, the HOURS after them hour fields), then per field
--   the delta it gains; last per request-id hash its EXPIRY (epoch s; 0: only
--   checked).
-- ARGV[2] reservation: the reservation's member (API key id, byte 0x1F,
--   request id: as reserve.lua's), or "".
-- ARGV[2+n] name: name n (1..nn): the hashes' fields, hash by hash.
-- ARGV[2+nn+2j-1] ids_add: id hash j's request ids to check and add, 24
--   bytes each, concatenated: the id's 16-byte field (docs/keys.md), then the
--   8-byte field an older tally wrote for it, which is only checked (the
--   hashes created here, with the field "v", hold 16-byte fields only).
-- ARGV[2+nn+2j] ids_check: the ids only to check, the same way.
-- Returns: {"recorded", us} ({"recorded"} when not timed), or, writing
--   nothing but a settle's release, {"duplicate", us, J, P, ...} naming each
--   fingerprint already present (id hash J; P its position in ids_add, -P in
--   ids_check); us: how long the script ran, by server TIME read at its start
--   and at its end (the host sizes its calls by it: c/pace.c), 0 when not
--   timed. TIME at the start is always read (the future check).
-- Everything is read and checked before the first write. Bucket values are
-- exact decimal integers up to 2^63-1. On a cluster a call covers one entity
-- (key, account or shard).

-- A call of one event touches ~10 hashes and ~25 fields, so the work per item
-- is what counts: the fields' names are read straight from ARGV in ranges,
-- and what is kept per hash goes in one flat array, with a stride, not a
-- table per item.
local TIME_MAX_S = math.floor(lib.TALLY_AT_MAX / 1000)
local DELTA_MAX = lib.TALLY_DELTA_MAX -- a count of a delta
local HEAD, DELTA, HASH_HEAD = lib.TALLY_WIRE_HEAD, lib.TALLY_WIRE_DELTA, lib.TALLY_WIRE_HASH_HEAD
local NAME0 = 2 -- ARGV[NAME0 + n] is name n
local FP, FP_V0 = 16, 8 -- an id's field; the field of tally before 16-byte ones
local ENTRY = FP + FP_V0
local V2 = "v" -- a field of the id hashes created here: no 8-byte fields to check
local fail = lib.refusal("record")
-- Lua function and C calls cost ~1000 instructions each here: the loops below
-- index v and ARGV directly and keep library functions in locals.
local match, format = string.match, string.format
local BUCKET, BUCKET_FORMAT = lib.BUCKET_PATTERN, lib.BUCKET_FORMAT

local start_us = lib.now_us()
local now_s = math.floor(start_us / 1000000)
-- The call's numbers are digits and commas alone: each whole and >= 0, and
-- range-checked where it is used.
local nums = ARGV[1]
local ok, v = false, nil
if nums:find("^%[[%d,]*%]$") then
  ok, v = pcall(cjson.decode, nums)
end
if not ok or type(v) ~= "table" or #v < HEAD then
  return fail("ARGV[1] is not a JSON array of the call's numbers")
end
local nv = #v
local latest, future, nh, ni, np, nr, nd, nn, timed = unpack(v, 1, HEAD)
if latest > lib.TALLY_AT_MAX or future > lib.TALLY_FUTURE_MAX_MS or nr > 2 or timed > 1
  or nh + ni + np + 2 * nr ~= #KEYS or #ARGV ~= NAME0 + nn + 2 * ni then
  return fail("KEYS and ARGV do not match the counts")
end
local resv = ARGV[2]
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
  local p1, p2, p3, p4, p5, p6 = v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5], v[at + 6]
  if p1 > DELTA_MAX or p2 > DELTA_MAX or p3 > DELTA_MAX or p4 > DELTA_MAX or p5 > DELTA_MAX
    or p6 > DELTA_MAX then
    return fail("delta " .. d .. " is not six counts of at most 10^15")
  end
  dtext[d], dpos[d] = format(BUCKET_FORMAT, p1, p2, p3, p4, p5, p6), at
  at = at + DELTA
end

-- Bucket hashes with a field to write (a field past its retention is skipped:
-- a late event; fields are written while their UNTIL is 0 or ahead of server
-- TIME): hash h's KEYS index, expiry, prune key index, first and last
-- ARGV index of its fields' names, and v's index of its first field's delta
-- are H[6h-5 .. 6h].
local H, nk, name = {}, 0, NAME0
for k = 1, nh do
  if at + HASH_HEAD > nv then return fail("bad descriptor of hash " .. k) end
  local expiry, days, hours = v[at + 1], v[at + 2], v[at + 3]
  local prune, nday, nhour = v[at + 4], v[at + 5], v[at + 6]
  at = at + HASH_HEAD
  local n = nday + nhour
  if n < 1 or prune > np or expiry > TIME_MAX_S or at + n > nv or name + n > NAME0 + nn then
    return fail("bad descriptor of hash " .. k)
  end
  for p = at + 1, at + n do
    if v[p] < 1 or v[p] > nd then return fail("hash " .. k .. " names no such delta") end
  end
  local first = (days == 0 or days > now_s) and 1 or nday + 1
  local last = (hours == 0 or hours > now_s) and n or nday
  if first <= last then
    nk = nk + 1
    H[6 * nk - 5], H[6 * nk - 4], H[6 * nk - 3], H[6 * nk - 2], H[6 * nk - 1], H[6 * nk] =
      k, expiry, prune, name + first, name + last, at + first
  end
  at, name = at + n, name + n
end

if at + ni ~= nv or name ~= NAME0 + nn then
  return fail("ARGV[1] and the names do not match the counts")
end
local ids = {}
for j = 1, ni do
  local expiry, adds, checks = v[at + j], ARGV[NAME0 + nn + 2 * j - 1], ARGV[NAME0 + nn + 2 * j]
  if expiry > TIME_MAX_S or #adds % ENTRY ~= 0 or #checks % ENTRY ~= 0 or (expiry == 0 and #adds > 0) then
    return fail("bad request-id list " .. j)
  end
  local list = {}
  for p = 1, #adds, ENTRY do list[#list + 1] = adds:sub(p, p + FP - 1) end
  for p = 1, #checks, ENTRY do list[#list + 1] = checks:sub(p, p + FP - 1) end
  ids[j] = { key = KEYS[nh + j], expiry = expiry, list = list, adds = adds, checks = checks,
             nadd = #adds / ENTRY }
end

-- Reads: every check that can fail happens here, before the first write.
local releases = {}
for k = 1, nr do
  local at_key = nh + ni + np + 2 * k
  local r, refused = lib.release_read(KEYS[at_key - 1], KEYS[at_key], resv)
  if refused then return refused end
  releases[#releases + 1] = r
end
local dups = {}
-- The 8-byte fields an older tally wrote for id hash `id`'s ids, in list order.
local function old_fields(id)
  local old = {}
  for _, entries in ipairs({ id.adds, id.checks }) do
    for p = FP + 1, #entries, ENTRY do old[#old + 1] = entries:sub(p, p + FP_V0 - 1) end
  end
  return old
end
for j, id in ipairs(ids) do
  local n = #id.list
  if n > 0 then
    -- "v" and each id's 16-byte field; a hash only checked (the previous
    -- slice's, often none) has its 8-byte fields asked in the same HMGET
    -- (never present where "v" is), a hash this call adds to only when it
    -- exists without "v" (an older tally's), after an EXISTS that also tells
    -- whether this call creates it.
    local args = { V2 }
    for p = 1, n do args[p + 1] = id.list[p] end
    if id.nadd == 0 then
      for _, f in ipairs(old_fields(id)) do args[#args + 1] = f end
    end
    local seen = lib.call_spread("HMGET", id.key, args)
    id.v2 = seen[1]
    if id.nadd > 0 and not seen[1] then
      if redis.call("EXISTS", id.key) == 1 then
        local old = lib.call_spread("HMGET", id.key, old_fields(id))
        for p = 1, n do seen[n + p + 1] = old[p] end
      else
        id.fresh = true
      end
    end
    for p = 1, n do
      if seen[p + 1] or seen[n + p + 1] then
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
local function elapsed() return timed == 1 and lib.now_us() - start_us or 0 end
if #dups > 0 then
  release()
  return { "duplicate", elapsed(), unpack(dups) }
end

-- New bucket values: the field named ARGV[i] and its value are fv[2i-1], fv[2i]
-- (i counted from NAME0).
local fv, hfresh, hgone = {}, {}, {}
for h = 1, nk do
  local key, first, last, d0 = KEYS[H[6 * h - 5]], H[6 * h - 2], H[6 * h - 1], H[6 * h] - H[6 * h - 2]
  local old = lib.call_spread("HMGET", key, ARGV, first, last)
  -- A day hash is taken as created when none of the fields read here existed:
  -- no extra call, and no false negative (a field that existed means the hash
  -- did). A false positive (a hash that held only other fields) prunes again,
  -- which is idempotent: one HKEYS of an old day's hash.
  local created = true
  for i = first, last do
    local o, di, field = old[i - first + 1], v[d0 + i], ARGV[i]
    local p = dpos[di]
    local value
    if not o then
      hfresh[h] = true
      value = dtext[di]
    else
      created = false
      local p1, p2, p3, p4, p5, p6 = match(o, BUCKET)
      if not p6 then return lib.foreign("field " .. field .. " of " .. key .. " is not a bucket") end
      if #p1 < 16 and #p2 < 16 and #p3 < 16 and #p4 < 16 and #p5 < 16 and #p6 < 16 then
        value = format(BUCKET_FORMAT, p1 + v[p + 1], p2 + v[p + 2], p3 + v[p + 3], p4 + v[p + 4],
          p5 + v[p + 5], p6 + v[p + 6])
      else
        local parts = { p1, p2, p3, p4, p5, p6 }
        for m = 1, 6 do
          parts[m] = lib.add_exact(parts[m], v[p + m])
          if not parts[m] then return fail("a sum in " .. key .. " would pass 2^63-1") end
        end
        value = table.concat(parts, ",")
      end
    end
    fv[2 * (i - NAME0) - 1], fv[2 * (i - NAME0)] = field, value
  end
  local prune = H[6 * h - 3]
  if prune > 0 and created then
    local gone = {}
    for _, f in ipairs(redis.call("HKEYS", KEYS[nh + ni + prune])) do
      if f:find("^%d") then gone[#gone + 1] = f end
    end
    hgone[h] = gone
  end
end
-- Writes: nothing below can fail on a well-formed dataset. Hours past their
-- retention go first, so that hours this call writes stay.
for h = 1, nk do
  if hgone[h] and #hgone[h] > 0 then lib.call_spread("HDEL", KEYS[nh + ni + H[6 * h - 3]], hgone[h]) end
end
for h = 1, nk do
  local key, expiry = KEYS[H[6 * h - 5]], H[6 * h - 4]
  lib.call_spread("HSET", key, fv, 2 * (H[6 * h - 2] - NAME0) - 1, 2 * (H[6 * h - 1] - NAME0))
  if hfresh[h] and expiry > 0 then redis.call("EXPIREAT", key, expiry, "NX") end
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
if timed == 0 then return { "recorded" } end
return { "recorded", elapsed() }
