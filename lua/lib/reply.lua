-- lib/reply.lua: error replies. A refusal of bad input reads "EINVAL <script>:
-- <why>" (the library maps it to TALLY_EINVAL; the script has written nothing).
-- Data under tally's keys that tally did not write reads "ERR tally: <what>".
function lib.refusal(script)
  return function(why) return redis.error_reply("EINVAL " .. script .. ": " .. why) end
end

function lib.foreign(what) return redis.error_reply("ERR tally: " .. what) end
