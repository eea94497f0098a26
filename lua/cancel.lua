#!lua
-- Cancels a reservation: gives its estimate back without recording usage.
-- KEYS[2e-1] reservations: budget entity e (1 or 2: the key, then the
--   account): its reservations hash.
-- KEYS[2e] leases: entity e's leases sorted set.
-- ARGV[1] member: the reservation's member: API key id, byte 0x1F, request id
--   (as reserve.lua's).
-- ARGV[2] now_ms: now in ms, or "0" for the server's TIME (a fixed now is for
--   tests only).
-- Returns: {released 1|0, server time ms}: 1 when an entity held the estimate
--   under a lease not yet ended, now given back; 0 when none did (never
--   reserved, settled or cancelled before, or its lease ended: nothing was
--   held any more).
-- Idempotent: a cancelled or settled reservation is gone, so a second cancel
-- finds nothing. An entry whose lease ended is cleared as reserve.lua would
-- clear it (its amount leaves the held sums once), and counts as nothing
-- released.
local fail = lib.refusal("cancel")
if (#KEYS ~= 2 and #KEYS ~= 4) or #ARGV ~= 2 then
  return fail("give the keys of 1 or 2 entities, the member and now")
end
local member = ARGV[1]
if not lib.is_member(member) then return fail("the member must be key id, byte 0x1F, request id") end
local now = lib.int(ARGV[2], 0, math.huge)
if not now then return fail("now must be a number of ms or 0") end
if now == 0 then now = lib.now_ms() end

-- Reads, with every type check, before any write.
local found, released = {}, 0
for e = 1, #KEYS / 2 do
  local r, refused = lib.release_read(KEYS[2 * e - 1], KEYS[2 * e], member)
  if refused then return refused end
  if r then
    found[#found + 1] = r
    if r.lease_end and r.lease_end > now then released = 1 end
  end
end
for _, r in ipairs(found) do lib.release_write(r, member) end
return { released, now }
