#!lua
-- Reserves an estimate against budgets (caps on cost or tokens), all or none.
-- KEYS[2e-1] reservations: budget entity e (1..ne: the key, then the account):
--   its reservations hash.
-- KEYS[2e] leases: entity e's leases sorted set.
-- KEYS[2ne+1..] buckets: per cap i (1..nc) in order, its cap_keys statistics
--   hashes, whose field cap_field it sums (an account's month or total: the
--   shards' hashes).
-- ARGV[1] member: the reservation's member: API key id, byte 0x1F, request id
--   (a request id belongs to its key: two keys of one account may reuse an id).
-- ARGV[2] lease_ms: released by itself after this (1 ms to 1 day).
-- ARGV[3] cost_nanos: the estimated cost, nano-USD (0..1e15).
-- ARGV[4] tokens: the estimated tokens (0..1e12).
-- ARGV[5] ne: budget entities (1 or 2).
-- ARGV[6] nc: caps (1..16).
-- ARGV[7] now_ms: now in ms, or "0" for the server's TIME (a fixed now is for
--   tests only).
-- ARGV[5i+3] cap_entity: cap i (1..nc): the entity it belongs to (1..ne).
-- ARGV[5i+4] cap_field: the bucket's field, or a prefix ending in ":" (an
--   API key's "m:": its hashes keep no "_", its bucket is the sum of its
--   models' fields, docs/keys.md) whose fields are summed.
-- ARGV[5i+5] cap_metric: "c" (cost) or "k" (tokens).
-- ARGV[5i+6] cap_amount: the cap (nano-USD or tokens, > 0).
-- ARGV[5i+7] cap_keys: how many hashes hold the cap's bucket (1..256).
-- Returns: {allowed 1|0, denied_by: first denying cap's index or 0, {what each
--   cap has left after this call}, server time ms, "reserved"|"duplicate"|"denied"}.
-- A cap allows when bucket usage + amounts still reserved + estimate <= cap.
-- A member that already holds a reservation answers "duplicate" when the
-- estimate is the same, and is refused (EINVAL, nothing written) when not.
-- Expired reservations are released first, each exactly once; a denial reserves
-- nothing.
local MAX = 9007199254740991 -- 2^53 - 1: sums of amounts stay exact below it
local fail, int = lib.refusal("reserve"), lib.int

local member, lease = ARGV[1], int(ARGV[2], 1, lib.TALLY_RESERVE_LEASE_MAX_MS)
local est = { c = int(ARGV[3], 0, lib.TALLY_MAX_COST_NANOS), k = int(ARGV[4], 0, lib.TALLY_MAX_TOKENS) }
local ne, nc = int(ARGV[5], 1, 2), int(ARGV[6], 1, lib.TALLY_BUDGET_CAPS_MAX)
if not member or not lib.is_member(member) then
  return fail("the member must be key id, byte 0x1F, request id")
end
if not lease then return fail("lease must be 1 ms to 1 day") end
if not est.c then return fail("estimated cost must be 0 to 10^15 nano-USD") end
if not est.k then return fail("estimated tokens must be 0 to 10^12") end
if not ne or not nc or #ARGV ~= 7 + 5 * nc then
  return fail("ARGV does not match the cap count")
end
local fixed_now = int(ARGV[7], 0, math.huge)
if not fixed_now then return fail("now must be a number of ms or 0") end
local caps, key = {}, 2 * ne
for i = 1, nc do
  local at = 7 + 5 * (i - 1)
  local e, field, metric = int(ARGV[at + 1], 1, ne), ARGV[at + 2], ARGV[at + 3]
  local cap, nk = int(ARGV[at + 4], 1, math.huge), int(ARGV[at + 5], 1, 256)
  if not e then return fail("cap " .. i .. " names no entity") end
  if metric ~= "c" and metric ~= "k" then return fail("cap " .. i .. " metric must be c or k") end
  if not cap then return fail("cap " .. i .. " must be a positive whole number") end
  if not nk then return fail("cap " .. i .. " must read 1 to 256 hashes") end
  caps[i] = { entity = e, first = key + 1, last = key + nk, field = field, metric = metric, cap = cap }
  key = key + nk
end
if key ~= #KEYS then return fail("KEYS do not match the entity count and the caps' hashes") end

local now = fixed_now
if now == 0 then now = lib.now_ms() end

-- Reads, with every type check, before any write.
local function used_of(c, v)
  local _, i, o, w, r, cost = lib.bucket(v)
  if not cost then return nil end
  return c.metric == "c" and tonumber(cost) or tonumber(i) + tonumber(o) + tonumber(w) + tonumber(r)
end
for _, c in ipairs(caps) do
  c.used = 0
  for k = c.first, c.last do
    if c.field:sub(-1) == ":" then
      local all, n = redis.call("HGETALL", KEYS[k]), #c.field
      for p = 1, #all, 2 do
        if all[p]:sub(1, n) == c.field then
          local used = used_of(c, all[p + 1])
          if not used then return lib.foreign(KEYS[k] .. " is not a bucket") end
          c.used = c.used + used
        end
      end
    else
      local v = redis.call("HGET", KEYS[k], c.field)
      if v then
        local used = used_of(c, v)
        if not used then return lib.foreign(KEYS[k] .. " is not a bucket") end
        c.used = c.used + used
      end
    end
  end
end
local entities = {}
for e = 1, ne do
  local held, leases = KEYS[2 * e - 1], KEYS[2 * e]
  local sums = redis.call("HGET", held, "=") or "0,0"
  local sc, sk = lib.pair(sums)
  if not sc then return lib.foreign(held .. " is not a reservations hash") end
  local mine = tonumber(redis.call("ZSCORE", leases, member) or 0) > now
  local expired = redis.call("ZRANGEBYSCORE", leases, "-inf", now)
  local gone = {}
  for _, id in ipairs(expired) do
    local amount = redis.call("HGET", held, "r:" .. id)
    local c, k = lib.pair(amount or "0,0")
    if not c then return lib.foreign("reservation " .. id .. " in " .. held .. " is bad") end
    sc, sk = sc - c, sk - k
    gone[#gone + 1] = id
  end
  sc, sk = math.max(0, sc), math.max(0, sk)
  if sc + est.c > MAX or sk + est.k > MAX then return fail("too much reserved at once") end
  entities[e] = { held = held, leases = leases, c = sc, k = sk, gone = gone, mine = mine }
end
local left, denied_by = {}, 0
for i, c in ipairs(caps) do
  left[i] = c.cap - c.used - entities[c.entity][c.metric]
  if denied_by == 0 and left[i] < est[c.metric] then denied_by = i end
end
if entities[1].mine then
  -- An id holds one estimate: asking again with it is a retry (idempotent);
  -- another estimate is a conflict, refused, since answering "reserved" would
  -- claim an amount that is not held.
  local amount = redis.call("HGET", entities[1].held, "r:" .. member)
  local hc, hk = lib.pair(amount or "")
  if not hc then return lib.foreign("a reservation in " .. entities[1].held .. " is bad") end
  if amount ~= lib.pair_format(est.c, est.k) then
    return fail("conflict: this request id already holds a reservation of " .. hc .. " nano-USD and " .. hk
      .. " tokens, not " .. lib.istr(est.c) .. " and " .. lib.istr(est.k)
      .. "; settle it (or let its lease end) before reserving another estimate under it")
  end
  return { 1, 0, left, now, "duplicate" }
end

-- Writes: release what expired (each once: it leaves the hash and the set).
for _, e in ipairs(entities) do
  for _, id in ipairs(e.gone) do
    redis.call("HDEL", e.held, "r:" .. id)
    redis.call("ZREM", e.leases, id)
  end
  if #e.gone > 0 then redis.call("HSET", e.held, "=", lib.pair_format(e.c, e.k)) end
end
for i, c in ipairs(caps) do
  left[i] = math.max(0, left[i] - (denied_by == 0 and est[c.metric] or 0))
end
if denied_by > 0 then return { 0, denied_by, left, now, "denied" } end
local expiry = now + lease
for _, e in ipairs(entities) do
  redis.call("HSET", e.held, "r:" .. member, lib.pair_format(est.c, est.k),
    "=", lib.pair_format(e.c + est.c, e.k + est.k))
  redis.call("ZADD", e.leases, expiry, member)
  -- Both keys live until the last lease ends (and a second more).
  local until_ms = redis.call("PEXPIRETIME", e.held)
  if until_ms < 0 or until_ms < expiry + 1000 then
    redis.call("PEXPIREAT", e.held, expiry + 1000)
    redis.call("PEXPIREAT", e.leases, expiry + 1000)
  end
end
return { 1, 0, left, now, "reserved" }
