-- lib/reservation.lua: giving a budget reservation back, one way for settling
-- (record.lua) and cancelling (cancel.lua). A reservation lives in two keys of
-- its entity (docs/keys.md): the hash `held` ("=" the held sums, "r:<member>"
-- each estimate, "cost,tokens") and the sorted set `leases` (member -> lease
-- end, server ms).

-- Reads member's reservation in one entity and type-checks both keys, before
-- any write. Returns what lib.release_write needs, with the lease's end in
-- `lease_end` (ms; nil when the set has no entry), or nil when the entity holds
-- nothing under member; or nil and an error reply.
function lib.release_read(held, leases, member)
  local got = redis.call("HMGET", held, "r:" .. member, "=")
  local lease_end = redis.call("ZSCORE", leases, member) -- type check before any write
  if not got[1] then return nil end
  local c, t = lib.pair(got[1])
  local sc, st = lib.pair(got[2] or "0,0")
  if not (c and sc) then return nil, lib.foreign(held .. " is not a reservations hash") end
  return { held = held, leases = leases, sums = lib.pair_format(math.max(0, sc - c), math.max(0, st - t)),
    lease_end = lease_end and tonumber(lease_end) }
end

-- Gives the reservation read by lib.release_read back: the estimate leaves the
-- held sums, the entry and its lease go. Cannot fail (the types were checked).
function lib.release_write(r, member)
  redis.call("HSET", r.held, "=", r.sums)
  redis.call("HDEL", r.held, "r:" .. member)
  redis.call("ZREM", r.leases, member)
end
