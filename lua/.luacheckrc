-- Redis's Lua 5.1 sandbox: only what Redis provides, all of it read-only.
-- `os`, `io`, `print`, `require`, `dofile`, `loadfile` are absent on purpose.
stds.redis = {
  read_globals = {
    "redis", "KEYS", "ARGV", "cjson", "cmsgpack", "bit", "struct",
    "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
    "tonumber", "tostring", "type", "unpack", "rawget", "rawequal",
    "string", "table", "math",
  },
}
std = "redis"
max_line_length = 110
allow_defined_top = false
