#!lua
-- Records one usage event into every bucket and leaderboard given, atomically.
-- KEYS: nh bucket hashes, then nz leaderboard sorted sets, then, with a request
--   id, the id hashes of the current and the previous idempotency slice, then
--   for a settle, nr pairs (reservations hash, leases sorted set) of budgets.
--   (On a cluster, an event is one call per entity: key, account, shard.)
-- ARGV: [1] event time, epoch ms; [2] how far past server time it may be, ms;
--   [3..7] input, output, cache-create, cache-read tokens, cost in nano-USD;
--   [8] nh; [9] nz; [10] the request id's field in the id hashes, or "" for
--   none; [11] id hash expiry, epoch s; [12] nr: budget entities whose
--   reservation to release (settle: the usage is recorded and the estimate given
--   back, together); [13] the request id the reservation is held under, or "";
--   then per hash: expiry epoch s (0 = never), field count n, n field names;
--   then, when nz is 9, the leaderboards' member (the API key id) and the
--   month and day expiries: the nine sets are cost, tokens, requests (c, k, r),
--   each for total, month, day, in that order; nz is 0 or 9.
--   A bucket whose expiry has passed is skipped (a late event past retention).
--   Bucket values are "requests,input,output,cache_create,cache_read,cost",
--   exact decimal integers up to 2^63-1. Returns "recorded" or "duplicate".
local MAX_TOKENS, MAX_COST = 1e12, 1e15
local BASE = 1e15             -- low part of a split decimal: sums stay < 2^53
local SCORE_MAX = 9007199254740992
local BUCKET = "^(%d+),(%d+),(%d+),(%d+),(%d+),(%d+)$"
local VALUE = "%d,%d,%d,%d,%d,%d" -- Lua 5.1 %d formats a C long: exact below 2^53, no printf_fp

local function fail(msg) return redis.error_reply("EINVAL record: " .. msg) end

local function uint(i, max, what)
  local s = ARGV[i]
  if not s or not s:match("^%d+$") or #s > 16 then return nil, what .. " is not a whole number" end
  local v = tonumber(s)
  if v > max then return nil, what .. " is above " .. string.format("%.0f", max) end
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

local at, err = uint(1, 253402300799999, "event time")
if not at then return fail(err) end
local future = uint(2, 86400000, "future allowance")
if not future then return fail("future allowance is not a number of ms up to a day") end
local amounts = {}
local names = { "input tokens", "output tokens", "cache-create tokens", "cache-read tokens", "cost" }
for i = 1, 5 do
  amounts[i], err = uint(i + 2, i == 5 and MAX_COST or MAX_TOKENS, names[i])
  if not amounts[i] then return fail(err) end
end
local tokens = amounts[1] + amounts[2] + amounts[3] + amounts[4]
local delta = { 1, amounts[1], amounts[2], amounts[3], amounts[4], amounts[5] }
local nh, nz, nr = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[12])
local rid, resv = ARGV[10], ARGV[13]
if not nh or not nz or not nr or not resv or nh + nz + (rid ~= "" and 2 or 0) + 2 * nr ~= #KEYS then
  return fail("KEYS do not match the hash, leaderboard and budget counts")
end
if nr > 0 and resv == "" then return fail("settling a reservation needs its request id") end
local id_expiry = uint(11, 253402300799, "id expiry")
if rid ~= "" and not id_expiry then return fail("id expiry is not a number") end

-- Parse the bucket and leaderboard descriptors; drop what is past retention.
local now = redis.call("TIME")
local now_s = tonumber(now[1])
if at > now_s * 1000 + math.floor(tonumber(now[2]) / 1000) + future then
  return fail("event time is in the future beyond the allowed " .. future .. " ms")
end
local hashes, pos = {}, 14
for k = 1, nh do
  local expiry, n = uint(pos, 253402300799, "expiry"), tonumber(ARGV[pos + 1])
  if not expiry or not n or n < 1 or pos + 1 + n > #ARGV then return fail("bad descriptor of hash " .. k) end
  if expiry == 0 or expiry > now_s then
    local fields = { unpack(ARGV, pos + 2, pos + 1 + n) }
    hashes[#hashes + 1] = { key = KEYS[k], expiry = expiry, fields = fields }
  end
  pos = pos + 2 + n
end
local boards = {}
if nz == 9 then
  local member, incs = ARGV[pos], { amounts[5], tokens, 1 }
  local expiries = { 0, uint(pos + 1, 253402300799, "expiry"), uint(pos + 2, 253402300799, "expiry") }
  if not member or not expiries[2] or not expiries[3] then return fail("bad leaderboard descriptor") end
  for k = 1, 9 do
    local expiry = expiries[(k - 1) % 3 + 1]
    if expiry == 0 or expiry > now_s then
      boards[#boards + 1] = { key = KEYS[nh + k], member = member, inc = incs[math.floor((k - 1) / 3) + 1],
                              expiry = expiry }
    end
  end
  pos = pos + 3
elseif nz ~= 0 then
  return fail("leaderboards come as 9 sets or none")
end
if pos ~= #ARGV + 1 then return fail("extra arguments after the descriptors") end

-- Reads: every check that can fail happens here, before the first write.
local releases = {}
for k = 1, nr do
  local held, leases = KEYS[nh + nz + 2 + 2 * k - 1], KEYS[nh + nz + 2 + 2 * k]
  local got = redis.call("HMGET", held, "r:" .. resv, "=")
  redis.call("ZSCORE", leases, resv) -- type check before any write
  if got[1] then
    local c, t = got[1]:match("^(%d+),(%d+)$")
    local sc, st = (got[2] or "0,0"):match("^(%d+),(%d+)$")
    if not (c and sc) then
      return redis.error_reply("ERR tally: " .. held .. " is not a reservations hash")
    end
    local sums = string.format("%.0f,%.0f", math.max(0, sc - c), math.max(0, st - t))
    releases[#releases + 1] = { held = held, leases = leases, sums = sums }
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
if rid ~= "" then
  for k = nh + nz + 1, nh + nz + 2 do
    if redis.call("HEXISTS", KEYS[k], rid) == 1 then
      release()
      return "duplicate"
    end
  end
end
-- A bucket gains the event's deltas. Fast path: every part below 10^15, so
-- part + delta < 2^53 stays exact in a double and one format builds the value.
local d1, d2, d3, d4, d5, d6 = 1, amounts[1], amounts[2], amounts[3], amounts[4], amounts[5]
local fresh_value = string.format(VALUE, d1, d2, d3, d4, d5, d6)
for _, h in ipairs(hashes) do
  local fields = h.fields
  local old = redis.call("HMGET", h.key, unpack(fields))
  local values = {}
  for f = 1, #fields do
    local v = old[f]
    if v then
      local p1, p2, p3, p4, p5, p6 = v:match(BUCKET)
      if not p6 then
        return redis.error_reply("ERR tally: field " .. fields[f] .. " of " .. h.key .. " is not a bucket")
      end
      if #p1 < 16 and #p2 < 16 and #p3 < 16 and #p4 < 16 and #p5 < 16 and #p6 < 16 then
        values[f] = string.format(VALUE, p1 + d1, p2 + d2, p3 + d3, p4 + d4, p5 + d5, p6 + d6)
      else
        local parts = { p1, p2, p3, p4, p5, p6 }
        for m = 1, 6 do
          parts[m] = add(parts[m], delta[m])
          if not parts[m] then
            return fail("a sum in " .. h.key .. " would pass 2^63-1")
          end
        end
        values[f] = table.concat(parts, ",")
      end
    else
      h.fresh = true
      values[f] = fresh_value
    end
  end
  h.values = values
end
for _, b in ipairs(boards) do
  local old = redis.call("ZSCORE", b.key, b.member)
  b.fresh = not old
  b.score = math.min((tonumber(old) or 0) + b.inc, SCORE_MAX) -- ranking saturates at 2^53
end

-- Writes: nothing below can fail on a well-formed dataset.
for _, h in ipairs(hashes) do
  local args = {}
  for f = 1, #h.fields do
    args[#args + 1] = h.fields[f]
    args[#args + 1] = h.values[f]
  end
  redis.call("HSET", h.key, unpack(args))
  if h.fresh and h.expiry > 0 then redis.call("EXPIREAT", h.key, h.expiry, "NX") end
end
for _, b in ipairs(boards) do
  redis.call("ZADD", b.key, string.format("%d", b.score), b.member)
  if b.fresh and b.expiry > 0 then redis.call("EXPIREAT", b.key, b.expiry, "NX") end
end
if rid ~= "" then
  local ids = KEYS[nh + nz + 1]
  redis.call("HSET", ids, rid, "1")
  redis.call("EXPIREAT", ids, id_expiry, "NX")
end
release()
return "recorded"
