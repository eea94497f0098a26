#!lua
-- Admission control: checks every rate-limit rule of one subject, consumes all or none.
-- KEYS[1..] rule_state: per rule, in order, its state key (a hash, or for "log" a
--   sorted set), and for a "log" rule a second key, its hash holding the sum and
--   the entry sequence. All keys of one call share the subject's hash tag.
-- ARGV[1] mode: "allow" (consume when every rule fits) or "peek" (never writes).
-- ARGV[2] now_us: now in microseconds, or "0" to use the server's TIME (a fixed
--   now is for tests and must be enabled in the client).
-- ARGV[3] n: the number of rules (1..8); rule i (1..n) takes the next five.
-- ARGV[5i-1] algorithm: "log", "window", "gcra" or "fixed".
-- ARGV[5i] limit: units per window (1..1e15).
-- ARGV[5i+1] window_ms: the window in ms (1..31536000000).
-- ARGV[5i+2] burst: gcra, units that may pass at once; 0 = the limit (0..1e15).
-- ARGV[5i+3] amount: what this call counts for the rule (0..1e15).
-- Returns: {allowed 1|0, now_us, then per rule: remaining (after this call when
--   allowed, else now), retry_after_ms (0 fits, -1 can never fit), reset_after_ms}.
-- reset_after_ms: 0 when the rule counts nothing now, else the time (1..window_ms,
--   rounded up) until the rule's current window ends, if nothing more is counted:
--   fixed, the end of the aligned window (the count starts again from 0); log, when
--   the newest counted call leaves the window (the whole limit is free again);
--   window, the end of the current aligned window (the previous window's count no
--   longer counts; the current one's weighs less and less over the next); gcra, when
--   the bucket has drained enough to let the whole limit through at once (the whole
--   burst when it is smaller).
-- A denied call and every "peek" write nothing.
local MAXV = lib.TALLY_LIMIT_MAX
local fail, int_arg, istr = lib.refusal("allow"), lib.int, lib.istr

local function ceil_ms(us) return math.ceil(us / 1000) end

local mode = ARGV[1]
if mode ~= "allow" and mode ~= "peek" then return fail("mode must be allow or peek") end
local now = ARGV[2] == "0" and 0 or int_arg(ARGV[2], 1, lib.TALLY_TEST_CLOCK_MAX_US)
if not now then return fail("now must be 0 or microseconds since the epoch") end
local n = int_arg(ARGV[3], 1, lib.TALLY_RULES_MAX)
if not n then return fail("the number of rules must be 1 to " .. lib.TALLY_RULES_MAX) end
if #ARGV ~= 3 + 5 * n then return fail("expected 5 values per rule") end

local KINDS = { log = "zset", window = "hash", gcra = "hash", fixed = "hash" }
local rules, nk = {}, 0
for i = 1, n do
  local at = 3 + 5 * (i - 1)
  local r = { algo = ARGV[at + 1] }
  if not KINDS[r.algo] then return fail("rule " .. i .. ": unknown algorithm") end
  r.limit = int_arg(ARGV[at + 2], 1, MAXV)
  if not r.limit then return fail("rule " .. i .. ": limit must be 1 to 1e15") end
  local wms = int_arg(ARGV[at + 3], 1, lib.TALLY_WINDOW_MAX_MS)
  if not wms then return fail("rule " .. i .. ": window must be 1 ms to 365 days") end
  r.w = wms * 1000
  r.burst = int_arg(ARGV[at + 4], 0, MAXV)
  if not r.burst then return fail("rule " .. i .. ": burst must be 0 to 1e15") end
  if r.burst == 0 then r.burst = r.limit end
  r.amt = int_arg(ARGV[at + 5], 0, MAXV)
  if not r.amt then return fail("rule " .. i .. ": amount must be 0 to 1e15") end
  nk = nk + 1
  r.key = KEYS[nk]
  if r.algo == "log" then
    nk = nk + 1
    r.aux = KEYS[nk]
  end
  rules[i] = r
end
if #KEYS ~= nk then return fail("expected " .. nk .. " keys") end
-- A foreign key of another type would make a write fail halfway: refuse first.
-- That is the data's problem, not the caller's (lib.foreign, not a refusal).
for i = 1, n do
  local r = rules[i]
  local t = redis.call("TYPE", r.key).ok
  if t ~= "none" and t ~= KINDS[r.algo] then
    return lib.foreign("rule " .. i .. ": " .. r.key .. " holds a " .. t)
  end
  if r.aux then
    t = redis.call("TYPE", r.aux).ok
    if t ~= "none" and t ~= "hash" then
      return lib.foreign("rule " .. i .. ": " .. r.aux .. " holds a " .. t)
    end
  end
end

if now == 0 then now = lib.now_us() end

-- Each check sets r.fits, r.avail (units available now) and r.retry (us; 0 or -1),
-- and keeps what its commit needs. Each commit writes when `use` and returns the
-- reset time in us.
local check, commit = {}, {}

local function entry_amount(m) return tonumber(m:match(":(%d+)$")) or 0 end

-- Sliding log: one entry "seq:amount" per counted call, scored by its time; an
-- entry counts while score > now - window.
function check.log(r)
  r.cutoff = now - r.w
  r.old = redis.call("ZRANGEBYSCORE", r.key, "-inf", istr(r.cutoff))
  local h = redis.call("HMGET", r.aux, "s", "n")
  local sum = tonumber(h[1])
  r.seq = tonumber(h[2]) or 0
  if not sum then -- the hash is gone: recount
    sum = 0
    for _, m in ipairs(redis.call("ZRANGE", r.key, 0, -1)) do sum = sum + entry_amount(m) end
  end
  for _, m in ipairs(r.old) do sum = sum - entry_amount(m) end
  r.sum = sum
  r.avail = r.limit - sum
  r.fits = sum + r.amt <= r.limit
  if r.fits then r.retry = 0
  elseif r.amt > r.limit then r.retry = -1
  else
    local live = redis.call("ZRANGEBYSCORE", r.key, "(" .. istr(r.cutoff), "+inf", "WITHSCORES")
    local freed = 0
    r.retry = -1
    for j = 1, #live, 2 do
      freed = freed + entry_amount(live[j])
      if sum - freed + r.amt <= r.limit then
        r.retry = tonumber(live[j + 1]) + r.w - now
        break
      end
    end
  end
end

function commit.log(r, use)
  if use and r.amt > 0 then
    if #r.old > 0 then redis.call("ZREMRANGEBYSCORE", r.key, "-inf", istr(r.cutoff)) end
    r.seq = r.seq + 1
    redis.call("ZADD", r.key, istr(now), istr(r.seq) .. ":" .. istr(r.amt))
    redis.call("HSET", r.aux, "s", istr(r.sum + r.amt), "n", istr(r.seq))
    local ttl = istr(ceil_ms(r.w))
    redis.call("PEXPIRE", r.key, ttl)
    redis.call("PEXPIRE", r.aux, ttl)
    return r.w
  end
  local last = redis.call("ZRANGE", r.key, -1, -1, "WITHSCORES")
  if #last == 0 or r.sum <= 0 then return 0 end
  return tonumber(last[2]) + r.w - now
end

-- Sliding window counter: counts of the current and previous aligned windows; the
-- previous one weighs by the share of it still inside the sliding window.
function check.window(r)
  r.cur = math.floor(now / r.w)
  local h = redis.call("HMGET", r.key, "w", "c", "p")
  local sw = tonumber(h[1])
  local c, p = 0, 0
  if sw == r.cur then c, p = tonumber(h[2]) or 0, tonumber(h[3]) or 0
  elseif sw == r.cur - 1 then p = tonumber(h[2]) or 0 end
  local e = now - r.cur * r.w
  r.c, r.p, r.e = c, p, e
  -- est = c + p * (w - e) / w, compared scaled by w (exact while products < 2^53)
  local scaled = c * r.w + p * (r.w - e)
  r.avail = math.floor(r.limit - scaled / r.w)
  r.fits = scaled + r.amt * r.w <= r.limit * r.w
  if r.fits then r.retry = 0
  elseif r.amt > r.limit then r.retry = -1
  elseif c + r.amt <= r.limit then
    -- wait until the previous window's weight has fallen enough
    r.retry = math.ceil((r.w - e) - ((r.limit - c - r.amt) * r.w) / p)
  else
    -- wait for the next window, then for the current one's weight to fall
    local e2 = math.ceil(r.w - ((r.limit - r.amt) * r.w) / c)
    if e2 < 0 then e2 = 0 end
    r.retry = (r.w - e) + e2
  end
end

function commit.window(r, use)
  local c = r.c
  if use and r.amt > 0 then
    c = c + r.amt
    redis.call("HSET", r.key, "w", istr(r.cur), "c", istr(c), "p", istr(r.p))
    redis.call("PEXPIRE", r.key, istr(ceil_ms((r.cur + 2) * r.w - now)))
  end
  if c > 0 or r.p > 0 then return r.w - r.e end
  return 0
end

-- GCRA, kept as the level of a bucket that drains limit units per window: a call
-- of `amount` fits while level + amount <= burst. Equivalent to the theoretical
-- arrival time TAT = t + level * window / limit.
function check.gcra(r)
  local h = redis.call("HMGET", r.key, "l", "t")
  local lv, t0 = tonumber(h[1]) or 0, tonumber(h[2]) or now
  local e = now - t0
  if e < 0 then e = 0 end
  lv = lv - (e * r.limit) / r.w
  if lv < 0 then lv = 0 end
  r.lv = lv
  r.avail = math.floor(r.burst - lv)
  r.fits = lv + r.amt <= r.burst
  if r.fits then r.retry = 0
  elseif r.amt > r.burst then r.retry = -1
  else r.retry = math.ceil(((lv + r.amt - r.burst) * r.w) / r.limit) end
end

-- The level drains in lv * w / limit us: the state's TTL, capped at ~31 years, so
-- that a huge burst over a year's window cannot overflow PEXPIRE's argument (a
-- negative TTL would delete the state just written).
local GCRA_HORIZON_US = 1e15
function commit.gcra(r, use)
  local lv = r.lv
  if use and r.amt > 0 then
    lv = lv + r.amt
    redis.call("HSET", r.key, "l", string.format("%.17g", lv), "t", istr(now))
    redis.call("PEXPIRE", r.key, istr(ceil_ms(math.min((lv * r.w) / r.limit, GCRA_HORIZON_US)) + 1))
  end
  -- the whole limit (or burst, when smaller) fits once the level is at most
  -- burst - limit: at most limit units to drain, so at most one window (the min
  -- holds it for a level left by a larger burst before the rule changed)
  local excess = lv - math.max(r.burst - r.limit, 0)
  if excess <= 0 then return 0 end
  return math.min(math.ceil((excess * r.w) / r.limit), r.w)
end

-- Fixed window aligned to the epoch (UTC): a count per window.
function check.fixed(r)
  r.cur = math.floor(now / r.w)
  local h = redis.call("HMGET", r.key, "w", "c")
  r.c = 0
  if tonumber(h[1]) == r.cur then r.c = tonumber(h[2]) or 0 end
  r.wend = (r.cur + 1) * r.w
  r.avail = r.limit - r.c
  r.fits = r.c + r.amt <= r.limit
  if r.fits then r.retry = 0
  elseif r.amt > r.limit then r.retry = -1
  else r.retry = r.wend - now end
end

function commit.fixed(r, use)
  local c = r.c
  if use and r.amt > 0 then
    c = c + r.amt
    redis.call("HSET", r.key, "w", istr(r.cur), "c", istr(c))
    redis.call("PEXPIRE", r.key, istr(ceil_ms(r.wend - now)))
  end
  if c > 0 then return r.wend - now end
  return 0
end

local allowed = true
for i = 1, n do
  local r = rules[i]
  check[r.algo](r)
  if not r.fits then allowed = false end
end
local use = allowed and mode == "allow"
local out = { allowed and 1 or 0, now }
for i = 1, n do
  local r = rules[i]
  local reset = commit[r.algo](r, use)
  local rem = r.avail
  if use then rem = rem - r.amt end
  if rem < 0 then rem = 0 end
  out[#out + 1] = rem
  out[#out + 1] = r.retry < 0 and -1 or ceil_ms(r.retry)
  out[#out + 1] = ceil_ms(reset)
end
return out
