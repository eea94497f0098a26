#!lua flags=no-writes
-- Rate limits decided without consuming: allow.lua in "peek" mode, flagged no-writes.
-- EVALSHA_RO runs it, and a cluster replica serves it (tally_limits with
--   TALLY_READ_REPLICA). The flag makes Redis refuse any write: mode "allow"
--   fails at its first write, before anything is written.
-- Body: allow.lua
