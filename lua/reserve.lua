#!lua
-- Reserves an estimate against budgets (caps on cost or tokens), all or none.
-- KEYS[2e-1] reservations: budget entity e (1..ne: the key, then the account):
--   its reservations hash.
-- KEYS[2e] leases: entity e's leases sorted set.
-- KEYS[2ne+i] bucket: cap i (1..nc): the statistics bucket hash it reads.
-- ARGV[1] member: the reservation's member: API key id, byte 0x1F, request id
--   (a request id belongs to its key: two keys of one account may reuse an id).
-- ARGV[2] lease_ms: released by itself after this (1 ms to 1 day).
-- ARGV[3] cost_nanos: the estimated cost, nano-USD (0..1e15).
-- ARGV[4] tokens: the estimated tokens (0..1e12).
-- ARGV[5] ne: budget entities (1 or 2).
-- ARGV[6] nc: caps (1 or more).
-- ARGV[7] now_ms: now in ms, or "0" for the server's TIME (a fixed now is for
--   tests only).
-- ARGV[4i+4] cap_entity: cap i (1..nc): the entity it belongs to (1..ne).
-- ARGV[4i+5] cap_field: the bucket's field.
-- ARGV[4i+6] cap_metric: "c" (cost) or "k" (tokens).
-- ARGV[4i+7] cap_amount: the cap (nano-USD or tokens, > 0).
-- Returns: {allowed 1|0, denied_by: first denying cap's index or 0, {what each
--   cap has left after this call}, server time ms, "reserved"|"duplicate"|"denied"}.
-- A cap allows when bucket usage + amounts still reserved + estimate <= cap.
-- Expired reservations are released first, each exactly once; a denial reserves
-- nothing.
local MAX = 9007199254740991

local function fail(msg) return redis.error_reply("EINVAL reserve: " .. msg) end
local function uint(s) return s and s:match("^%d+$") and #s <= 16 and tonumber(s) or nil end

local member, lease = ARGV[1], uint(ARGV[2])
local est = { c = uint(ARGV[3]), k = uint(ARGV[4]) }
local ne, nc = uint(ARGV[5]), uint(ARGV[6])
if not member or not member:find("^[^\31]+\31[^\31]+$") then
  return fail("the member must be key id, byte 0x1F, request id")
end
if not lease or lease < 1 or lease > 86400000 then return fail("lease must be 1 ms to 1 day") end
if not est.c or est.c > 1e15 then return fail("estimated cost must be 0 to 10^15 nano-USD") end
if not est.k or est.k > 1e12 then return fail("estimated tokens must be 0 to 10^12") end
if not ne or ne < 1 or ne > 2 or not nc or nc < 1 or 2 * ne + nc ~= #KEYS or #ARGV ~= 7 + 4 * nc then
  return fail("KEYS and ARGV do not match the entity and cap counts")
end
local fixed_now = uint(ARGV[7])
if not fixed_now then return fail("now must be a number of ms or 0") end
local caps = {}
for i = 1, nc do
  local at = 7 + 4 * (i - 1)
  local e, field, metric, cap = uint(ARGV[at + 1]), ARGV[at + 2], ARGV[at + 3], uint(ARGV[at + 4])
  if not e or e < 1 or e > ne then return fail("cap " .. i .. " names no entity") end
  if metric ~= "c" and metric ~= "k" then return fail("cap " .. i .. " metric must be c or k") end
  if not cap or cap < 1 then return fail("cap " .. i .. " must be a positive whole number") end
  caps[i] = { entity = e, bucket = KEYS[2 * ne + i], field = field, metric = metric, cap = cap }
end

local now = fixed_now
if now == 0 then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Reads, with every type check, before any write.
for _, c in ipairs(caps) do
  local v = redis.call("HGET", c.bucket, c.field)
  c.used = 0
  if v then
    local _, i, o, w, r, cost = v:match("^(%d+),(%d+),(%d+),(%d+),(%d+),(%d+)$")
    if not cost then return redis.error_reply("ERR tally: " .. c.bucket .. " is not a bucket") end
    c.used = c.metric == "c" and tonumber(cost) or tonumber(i) + tonumber(o) + tonumber(w) + tonumber(r)
  end
end
local entities = {}
for e = 1, ne do
  local held, leases = KEYS[2 * e - 1], KEYS[2 * e]
  local sums = redis.call("HGET", held, "=") or "0,0"
  local sc, sk = sums:match("^(%d+),(%d+)$")
  if not sc then return redis.error_reply("ERR tally: " .. held .. " is not a reservations hash") end
  local mine = tonumber(redis.call("ZSCORE", leases, member) or 0) > now
  local expired = redis.call("ZRANGEBYSCORE", leases, "-inf", now)
  local gone = {}
  for _, id in ipairs(expired) do
    local amount = redis.call("HGET", held, "r:" .. id)
    local c, k = (amount or "0,0"):match("^(%d+),(%d+)$")
    if not c then return redis.error_reply("ERR tally: reservation " .. id .. " in " .. held .. " is bad") end
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
if entities[1].mine then return { 1, 0, left, now, "duplicate" } end

-- Writes: release what expired (each once: it leaves the hash and the set).
for _, e in ipairs(entities) do
  for _, id in ipairs(e.gone) do
    redis.call("HDEL", e.held, "r:" .. id)
    redis.call("ZREM", e.leases, id)
  end
  if #e.gone > 0 then redis.call("HSET", e.held, "=", string.format("%.0f,%.0f", e.c, e.k)) end
end
for i, c in ipairs(caps) do
  left[i] = math.max(0, left[i] - (denied_by == 0 and est[c.metric] or 0))
end
if denied_by > 0 then return { 0, denied_by, left, now, "denied" } end
local expiry = now + lease
for _, e in ipairs(entities) do
  redis.call("HSET", e.held, "r:" .. member, string.format("%.0f,%.0f", est.c, est.k),
    "=", string.format("%.0f,%.0f", e.c + est.c, e.k + est.k))
  redis.call("ZADD", e.leases, expiry, member)
  -- Both keys live until the last lease ends (and a second more).
  local until_ms = redis.call("PEXPIRETIME", e.held)
  if until_ms < 0 or until_ms < expiry + 1000 then
    redis.call("PEXPIREAT", e.held, expiry + 1000)
    redis.call("PEXPIREAT", e.leases, expiry + 1000)
  end
end
return { 1, 0, left, now, "reserved" }
