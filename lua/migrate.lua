#!lua
-- Converts a key-schema v2 dataset to v3 in place (tally migrate), one entity
-- (hash tag) a call; offline: nothing may record meanwhile (docs/keys.md).
-- KEYS[1..] keys: "mark": the mark of a migration, <prefix>:v3:{c:schema}:F;
--   "rename": pairs of a v2 key and its v3 name (the same name with v3 for
--   v2: same hash tag, same slot); "page": one v2 requests board; "fill": a
--   shard's v3 hash of a period, then the v2 boards of that shard and period
--   to delete (any of Lr, Lc, Lk); "fold": a shard's hash of a period (v3;
--   v2 in a dry run); "drop": an account's hash of all time or of a month
--   (the same); "complete": the accounts marker <prefix>:v3:{c:schema}:A.
-- ARGV[1] mode: "mark" stores the mark ("v2", SET NX) before the first
--   rename, so that a second run knows the v3 keys are the migration's;
--   "rename" renames each pair (RENAMENX: keeps the TTL, never overwrites);
--   "page" reads members of the board by rank; "fill" writes the hash's k:
--   fields and, with last, deletes the boards; "fold" sets an account's a:
--   field to a new value if it still holds the one the host read; "drop"
--   deletes an account's folded hash; "complete" sets the marker to 0.
-- ARGV[2] dry: "1" checks and counts, writes nothing; "0" writes.
-- ARGV[3..] rest: "page": the first rank (0-based) and the count
--   (1..1000000); "fill": last ("1": delete the boards after writing, "0"
--   not yet), then field, value, ... (field "k:<raw key id>", value the key's
--   bucket of the period, six decimal integers joined by ","); "fold": the
--   field (a:<raw account id>), the value read ("" none) and the new value.
-- Returns: "mark": 1 stored (or would be), 0 there before; "rename": per
--   key 1 (renamed, or would be), 0 (the v2 key is gone: renamed before, or
--   expired), -1 (left: its v3 name exists), and 0 for each v3 name; "page":
--   the members; "fill": {fields written (or would be), or -1 when the hash
--   is gone (expired: nothing written), boards deleted}; "fold": 1 written
--   (or would be), -1 the hash of a month or day is gone (nothing written);
--   "drop": keys deleted (or that would be); "complete": 1.
-- Every argument and key type is checked before the first write.
local fail = lib.refusal("migrate")
local mode, dry = ARGV[1], ARGV[2]
if dry ~= "0" and dry ~= "1" then return fail("dry must be 0 or 1") end
dry = dry == "1"

-- The v3 name of a v2 key: the part before the hash tag ends in ":v2:".
local function v3_of(key)
  local tag = key:find("{", 1, true)
  if not tag or tag < 6 or key:sub(tag - 4, tag - 1) ~= ":v2:" then return nil end
  return key:sub(1, tag - 5) .. ":v3:" .. key:sub(tag)
end

if mode == "mark" then
  if #KEYS ~= 1 or #ARGV ~= 2 or not KEYS[1]:find(":v3:{c:schema}:F$") then
    return fail("mark takes the mark's key, mode and dry")
  end
  if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
  if not dry then redis.call("SET", KEYS[1], "v2", "NX") end
  return 1
end

if mode == "rename" then
  if #KEYS % 2 ~= 0 or #ARGV ~= 2 then return fail("rename takes pairs of keys, mode and dry") end
  for i = 1, #KEYS, 2 do
    if v3_of(KEYS[i]) ~= KEYS[i + 1] or KEYS[i]:find("{s:%d+}:L[ckr]:") then
      return fail("key " .. i .. " must be a v2 key (not a board) and key " .. i + 1 .. " its v3 name")
    end
  end
  local out = {}
  for i = 1, #KEYS, 2 do
    local state = 1
    if redis.call("EXISTS", KEYS[i]) == 0 then state = 0
    elseif redis.call("EXISTS", KEYS[i + 1]) == 1 then state = -1
    elseif not dry then redis.call("RENAMENX", KEYS[i], KEYS[i + 1]) end
    out[i], out[i + 1] = state, 0
  end
  return out
end

if mode == "page" then
  local first, count = lib.int(ARGV[3], 0, 2 ^ 53), lib.int(ARGV[4], 1, 1000000)
  if #KEYS ~= 1 or #ARGV ~= 4 or not first or not count then
    return fail("page takes one board, mode, dry, the first rank and a count")
  end
  if not v3_of(KEYS[1]) or not KEYS[1]:find("}:Lr:") then return fail("key 1 must be a v2 requests board") end
  local t = redis.call("TYPE", KEYS[1]).ok
  if t ~= "zset" and t ~= "none" then return lib.foreign(KEYS[1] .. " is not a leaderboard") end
  return redis.call("ZRANGE", KEYS[1], first, first + count - 1)
end

local bucket_shape = "^%d+,%d+,%d+,%d+,%d+,%d+$"

if mode == "fold" then
  local field, read, value = ARGV[3], ARGV[4], ARGV[5]
  local shaped = KEYS[1] and KEYS[1]:find(":v[23]:{s:%d+}:[tMD]")
  if #KEYS ~= 1 or #ARGV ~= 5 or (v3_of(KEYS[1]) ~= nil) ~= dry or not shaped
    or field:sub(1, 2) ~= "a:" or #field < 3 or not value:find(bucket_shape)
    or (read ~= "" and not read:find(bucket_shape)) then
    return fail("fold takes a shard's hash (v3; v2 in a dry run), mode, dry, a:<account>, the value read and"
      .. " the new one")
  end
  local t = redis.call("TYPE", KEYS[1]).ok
  if t ~= "hash" and t ~= "none" then return lib.foreign(KEYS[1] .. " is not a hash of buckets") end
  -- a month's or day's hash is never created without its expiry
  if t == "none" and not KEYS[1]:find("}:t$") then return -1 end
  if (redis.call("HGET", KEYS[1], field) or "") ~= read then
    return fail(KEYS[1] .. " " .. field .. " changed during the migration: stop every writer, run it again")
  end
  if not dry then redis.call("HSET", KEYS[1], field, value) end
  return 1
end

if mode == "drop" then
  if #KEYS ~= 1 or #ARGV ~= 2 or (v3_of(KEYS[1]) ~= nil) ~= dry or not KEYS[1]:find(":v[23]:{a:[^}]*}:t$")
    and not KEYS[1]:find(":v[23]:{a:[^}]*}:M:%d+$") then
    return fail("drop takes an account's hash of all time or a month (v3; v2 in a dry run), mode and dry")
  end
  if dry then return redis.call("EXISTS", KEYS[1]) end
  return redis.call("UNLINK", KEYS[1])
end

if mode == "complete" then
  if #KEYS ~= 1 or #ARGV ~= 2 or not KEYS[1]:find(":v3:{c:schema}:A$") then
    return fail("complete takes the accounts marker, mode and dry")
  end
  if not dry then redis.call("SET", KEYS[1], "0") end
  return 1
end

if mode ~= "fill" then return fail("mode must be mark, rename, page, fill, fold, drop or complete") end
local last = ARGV[3]
if #KEYS < 1 or #KEYS > 4 or (last ~= "0" and last ~= "1") or #ARGV % 2 ~= 1 then
  return fail("fill takes a hash and up to 3 boards, mode, dry, last, then fields and values")
end
local hash = KEYS[1]
-- A dry run reads the v2 names (nothing is renamed yet).
local named = v3_of(hash) ~= nil
if named ~= dry or not hash:find(":v[23]:{s:%d+}:") or hash:find("}:L") then
  return fail("key 1 must be a shard's hash (v3; v2 in a dry run)")
end
for i = 2, #KEYS do
  if not v3_of(KEYS[i]) or not KEYS[i]:find("}:L[ckr]:") then
    return fail("key " .. i .. " must be a v2 board")
  end
  local t = redis.call("TYPE", KEYS[i]).ok
  if t ~= "zset" and t ~= "none" then return lib.foreign(KEYS[i] .. " is not a leaderboard") end
end
for i = 4, #ARGV, 2 do
  local bucket = ARGV[i + 1]:find(bucket_shape)
  if ARGV[i]:sub(1, 2) ~= "k:" or #ARGV[i] < 3 or not bucket then
    return fail("field " .. (i - 2) / 2 .. " must be k:<key id> and a bucket of six numbers")
  end
end
local t = redis.call("TYPE", hash).ok
if t ~= "hash" and t ~= "none" then return lib.foreign(hash .. " is not a hash of buckets") end
local written = (#ARGV - 3) / 2
if t == "none" then written = -1 end -- expired with its period: no hash without its expiry
if not dry and written > 0 then lib.call_spread("HSET", hash, ARGV, 4) end
local deleted = 0
if last == "1" then
  for i = 2, #KEYS do
    if dry then deleted = deleted + redis.call("EXISTS", KEYS[i])
    else deleted = deleted + redis.call("UNLINK", KEYS[i]) end
  end
end
return { written, deleted }
