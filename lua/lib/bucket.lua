-- lib/bucket.lua: the packed values. A statistics bucket is
-- "requests,input,output,cache_create,cache_read,cost" and a reservation
-- "cost,tokens": exact decimal integers up to 2^63-1.
lib.BUCKET_FORMAT = "%d,%d,%d,%d,%d,%d" -- %d formats a C long: exact below 2^53, no printf_fp

-- The six parts of a bucket as strings, or nil when v is not a bucket.
lib.BUCKET_PATTERN = "^(%d+),(%d+),(%d+),(%d+),(%d+),(%d+)$"
function lib.bucket(v) return v:match(lib.BUCKET_PATTERN) end

-- A reservation's member (its field and lease): API key id, byte 0x1F, request id.
function lib.is_member(s) return s:find("^[^\31]+\31[^\31]+$") ~= nil end

-- The two parts of a reservation as strings, or nil.
function lib.pair(v) return v:match("^(%d+),(%d+)$") end
function lib.pair_format(cost, tokens) return string.format("%.0f,%.0f", cost, tokens) end

-- Adds x (at most 10^15) to the decimal string s exactly, past 2^53 too; nil when
-- the sum passes 2^63-1. Parts below 10^15 take the fast path in the caller.
function lib.add_exact(s, x)
  local base = 1e15 -- low part of a split decimal: sums stay < 2^53
  if #s <= 15 then return string.format("%.0f", tonumber(s) + x) end
  local hi, lo = tonumber(s:sub(1, -16)), tonumber(s:sub(-15)) + x
  if lo >= base then hi, lo = hi + 1, lo - base end
  if hi > 9223 or (hi == 9223 and lo > 372036854775807) then return nil end
  return string.format("%.0f%015.0f", hi, lo)
end
