#!lua
-- Concurrency leases: acquire, renew or release one of at most `limit` live slots.
-- KEYS[1] leases: sorted set of live leases (member = lease id, score = expiry in
--   microseconds of server time), under the subject's hash tag.
-- ARGV[1] mode: "acquire", "renew" or "release".
-- ARGV[2] now_us: now in microseconds, or "0" to use the server's TIME (a fixed
--   now is for tests only).
-- ARGV[3] limit: acquire, the most live leases (1..1000000).
-- ARGV[3] lease_id: renew and release, the lease's id (also the "<us>-<seq>"
--   ids of earlier versions).
-- ARGV[4] lease_ms: acquire and renew, the lease's length in ms (1..365 days).
-- ARGV[5] new_id: acquire, the new lease's id: 32 lowercase hex digits, 128 bits
--   the client drew from the kernel's random source, so that no one can guess
--   another holder's id (an id already live is refused).
-- Returns: acquire {1, id, expiry_us, holders, now} or {0, "", retry_after_ms,
--   holders, now}; renew {1|0 (lost), expiry_us, holders, now}; release {1|0
--   (was not held), 0, holders, now}.
-- Leases whose expiry is <= now are reclaimed first, by every mode.
local fail, int_arg, istr = lib.refusal("lease"), lib.int, lib.istr

local function random_id(s) return type(s) == "string" and #s == 32 and s:match("^[0-9a-f]+$") ~= nil end

local mode = ARGV[1]
if mode ~= "acquire" and mode ~= "renew" and mode ~= "release" then
  return fail("mode must be acquire, renew or release")
end
if #KEYS ~= 1 then return fail("expected 1 key") end
local now = ARGV[2] == "0" and 0 or int_arg(ARGV[2], 1, lib.TALLY_TEST_CLOCK_MAX_US)
if not now then return fail("now must be 0 or microseconds since the epoch") end
local limit, ms, id
if mode == "acquire" then
  if #ARGV ~= 5 then return fail("acquire takes limit, lease ms and the new id") end
  limit = int_arg(ARGV[3], 1, lib.TALLY_LEASE_LIMIT_MAX)
  if not limit then return fail("limit must be 1 to " .. lib.TALLY_LEASE_LIMIT_MAX) end
  id = ARGV[5]
  if not random_id(id) then return fail("a new lease id is 32 lowercase hex digits") end
else
  id = ARGV[3]
  local legacy = type(id) == "string" and #id < lib.TALLY_LEASE_ID_MAX and id:match("^%d+%-%d+$")
  if not random_id(id) and not legacy then
    return fail("lease id is malformed")
  end
end
if mode ~= "release" then
  if mode == "renew" and #ARGV ~= 4 then return fail("renew takes an id and lease ms") end
  ms = int_arg(ARGV[4], 1, lib.TALLY_WINDOW_MAX_MS)
  if not ms then return fail("lease must be 1 ms to 365 days") end
elseif #ARGV ~= 3 then
  return fail("release takes an id")
end
local t1 = redis.call("TYPE", KEYS[1]).ok
if t1 ~= "none" and t1 ~= "zset" then
  return lib.foreign(KEYS[1] .. " holds a " .. t1) -- the data's problem, not the caller's
end

if now == 0 then now = lib.now_us() end

-- A new id held by a live lease is refused before anything is written.
if mode == "acquire" then
  local held = redis.call("ZSCORE", KEYS[1], id)
  if held and tonumber(held) > now then return fail("the new lease id is already in use") end
end

-- Reclaim the leases of holders that stopped renewing (crashed, hung, gone).
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", istr(now))

-- The set lives as long as the longest lease.
local function keep_alive()
  local last = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
  if #last == 0 then return end
  redis.call("PEXPIRE", KEYS[1], istr(math.ceil((tonumber(last[2]) - now) / 1000)))
end

local holders = redis.call("ZCARD", KEYS[1])
if mode == "acquire" then
  if holders >= limit then
    local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
    local retry = 0
    if #first > 0 then retry = math.ceil((tonumber(first[2]) - now) / 1000) end
    return { 0, "", retry, holders, now }
  end
  local exp = now + ms * 1000
  redis.call("ZADD", KEYS[1], istr(exp), id)
  keep_alive()
  return { 1, id, exp, holders + 1, now }
end
if mode == "renew" then
  if not redis.call("ZSCORE", KEYS[1], id) then return { 0, 0, holders, now } end
  local exp = now + ms * 1000
  redis.call("ZADD", KEYS[1], "XX", istr(exp), id)
  keep_alive()
  return { 1, exp, holders, now }
end
local gone = redis.call("ZREM", KEYS[1], id)
return { gone, 0, holders - gone, now }
