-- embed.lua: builds the scripts libtally sends, and the C table that holds them
-- (run at build time by Lua 5.4). Two steps, with the linters between them:
--   lua5.4 embed.lua assemble OUTDIR HEADER... -- PRELUDE... -- SCRIPT...
--     writes OUTDIR/<name>.lua for each SCRIPT: its contract header (the leading
--     comment block), a blank line, the prelude, then the rest of the script.
--     The prelude is the same for every script: `local lib = {...}` holding
--     every numeric TALLY_* define of the HEADERs (bounds the C side enforces
--     too), then the PRELUDE files (lua/lib/), which add the shared helpers.
--   lua5.4 embed.lua OUT.c OUT.h SCRIPT...   (the assembled scripts)
--     each entry holds the script's exact bytes, their length, the SHA1 of
--     exactly those bytes (what SCRIPT LOAD answers), and the KEYS/ARGV contract
--     read from the header comment, entry by entry (`tally scripts list --json`).
-- A script without a contract is a build error. A script may take another's
-- contract and body under its own shebang and summary (peek.lua: allow.lua
-- flagged no-writes), so the two cannot drift apart.

local function sha1(msg)
  local function rol(x, n) return ((x << n) | (x >> (32 - n))) & 0xffffffff end
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local ml = #msg * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64) .. string.pack(">I8", ml)
  for chunk = 1, #msg, 64 do
    local w = {}
    for i = 0, 15 do w[i] = string.unpack(">I4", msg, chunk + i * 4) end
    for i = 16, 79 do w[i] = rol(w[i - 3] ~ w[i - 8] ~ w[i - 14] ~ w[i - 16], 1) end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then f, k = (b & c) | (~b & d), 0x5A827999
      elseif i < 40 then f, k = b ~ c ~ d, 0x6ED9EBA1
      elseif i < 60 then f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
      else f, k = b ~ c ~ d, 0xCA62C1D6 end
      local t = (rol(a, 5) + (f & 0xffffffff) + e + k + w[i]) & 0xffffffff
      a, b, c, d, e = t, a, rol(b, 30), c, d
    end
    h0, h1 = (h0 + a) & 0xffffffff, (h1 + b) & 0xffffffff
    h2, h3, h4 = (h2 + c) & 0xffffffff, (h3 + d) & 0xffffffff, (h4 + e) & 0xffffffff
  end
  return string.format("%08x%08x%08x%08x%08x", h0, h1, h2, h3, h4)
end

local function fail(fmt, ...)
  io.stderr:write("embed.lua: ", string.format(fmt, ...), "\n")
  os.exit(1)
end

-- Reads the leading comment block, the script's contract:
--   -- One summary line.
--   -- KEYS[position] name: description
--   -- ARGV[position] name: description
--   -- Returns: what the script answers
--   -- any other line: a note
-- A line whose text starts with three spaces continues the entry, the Returns: or
-- the note before it. Positions are "1", "2..", "nh+1..nh+nz", "5i-1", "last" ...
-- (letters name counts the other arguments give, docs/scripts.md); names are
-- lower-case identifiers, unique within KEYS and within ARGV. Also returns the
-- byte offset where the header ends (the body's first line).
local function contract(path, src)
  local c = { keys = {}, argv = {}, notes = {} }
  local last -- the entry (or returns/note holder) a continuation line extends
  local body = #src + 1
  for start, line in src:gmatch("()([^\n]*)\n") do
    if line:match("^#!") then goto continue end
    local text = line:match("^%-%-(.*)$")
    if not text then
      body = start
      break
    end
    local section, pos, name, desc = text:match("^ (%u+)%[([%w+%-.]+)%] ([%w_]+): (.+)$")
    if section == "KEYS" or section == "ARGV" then
      if not name:match("^[a-z][a-z0-9_]*$") then fail("%s: %s name '%s' is not an identifier", path, section, name) end
      local list = c[section:lower()]
      for _, e in ipairs(list) do
        if e.name == name then fail("%s: %s name '%s' appears twice", path, section, name) end
      end
      last = { position = pos, name = name, description = desc }
      list[#list + 1] = last
    elseif text:match("^ %u+%[") then
      fail("%s: '%s' must read KEYS[position] name: description", path, text)
    elseif text:match("^ Returns: ") then
      c.returns = { description = text:match("^ Returns: (.*)$") }
      last = c.returns
    elseif last and text:match("^   ") then
      last.description = last.description .. " " .. text:gsub("^ +", "")
    elseif not c.summary then
      c.summary = text:gsub("^%s+", "")
    else
      last = { description = text:gsub("^%s+", "") }
      c.notes[#c.notes + 1] = last
    end
    ::continue::
  end
  if not (c.summary and c.returns and #c.keys > 0 and #c.argv > 0) then
    fail("%s: header comment must give a summary line, KEYS[..] and ARGV[..] entries and Returns:", path)
  end
  return c, body
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then fail("cannot read %s", path) end
  local text = f:read("a")
  f:close()
  return text
end

local function spit(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- The prelude: the bounds of the headers as fields of `lib`, then the files.
-- It starts with a blank line, which ends the contract header before it.
local function prelude(headers, files)
  local bounds = {}
  for _, h in ipairs(headers) do
    for line in slurp(h):gmatch("[^\n]+") do
      local name, value = line:match("^#define[ \t]+(TALLY_[%u%d_]+)[ \t]+(%d+)L*%f[^%w]")
      if name then
        if tonumber(value) >= 2 ^ 53 then fail("%s: %s = %s is not exact in Lua 5.1", h, name, value) end
        bounds[#bounds + 1] = string.format("  %s = %s,\n", name, value)
      end
    end
  end
  table.sort(bounds)
  local out = { "\n-- Prelude: shared by every script (lua/lib/, put here by tools/embed.lua).\n",
    "-- Bounds the C library enforces too (c/tally.h, c/tally_admission.h, c/bounds.h):\n", "local lib = {\n" }
  for _, b in ipairs(bounds) do out[#out + 1] = b end
  out[#out + 1] = "}\n"
  for _, f in ipairs(files) do out[#out + 1] = "\n" .. slurp(f) end
  out[#out + 1] = "-- End of the prelude.\n\n"
  return table.concat(out)
end

if arg[1] == "assemble" then
  local outdir, lists, i = arg[2], { {}, {}, {} }, 3
  for k = 1, 3 do
    while arg[i] and arg[i] ~= "--" do
      table.insert(lists[k], arg[i])
      i = i + 1
    end
    i = i + 1
  end
  if not outdir or #lists[3] == 0 then fail("usage: embed.lua assemble OUTDIR HEADER... -- PRELUDE... -- SCRIPT...") end
  local shared = prelude(lists[1], lists[2])
  local by_name = {}
  for _, path in ipairs(lists[3]) do by_name[path:match("([^/]+)$")] = path end
  for _, path in ipairs(lists[3]) do
    local src = slurp(path)
    -- A script whose header ends with "-- Body: OTHER.lua" is OTHER.lua under
    -- its own shebang, summary and notes: then OTHER.lua's contract (from its
    -- KEYS[ line on), the prelude and OTHER.lua's body.
    local own, base = src:match("^(.-\n)%-%- Body: ([%w_]+%.lua)\n$")
    if base then
      local bpath = by_name[base] or fail("%s: no script %s to take the body of", path, base)
      local bsrc = slurp(bpath)
      local _, bbody = contract(bpath, bsrc)
      local from = bsrc:find("\n%-%- KEYS%[") or fail("%s: no KEYS contract", bpath)
      src = own .. bsrc:sub(from + 1, bbody - 1) .. bsrc:sub(bbody)
    end
    local _, body = contract(path, src)
    spit(outdir .. "/" .. path:match("([^/]+)$"), src:sub(1, body - 1) .. shared .. src:sub(body))
  end
  os.exit(0)
end

-- The contract as prose, one line per entry: what tally_script_info.keys/argv hold.
local function prose(section, list)
  local out = {}
  for _, e in ipairs(list) do
    out[#out + 1] = string.format("%s[%s] %s: %s", section, e.position, e.name, e.description)
  end
  return table.concat(out, "\n")
end

local function cstring(s)
  local out = { '"' }
  for i = 1, #s do
    local ch = s:sub(i, i)
    local b = ch:byte()
    if ch == '"' or ch == "\\" then out[#out + 1] = "\\" .. ch
    elseif ch == "\n" then out[#out + 1] = '\\n"\n    "'
    elseif ch == "?" then out[#out + 1] = "\\?"  -- no trigraphs
    elseif b < 32 or b > 126 then out[#out + 1] = string.format("\\%03o", b)
    else out[#out + 1] = ch end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

local out_c, out_h = arg[1], arg[2]
if not out_h or not arg[3] then fail("usage: embed.lua OUT.c OUT.h SCRIPT...") end
local scripts = {}
for i = 3, #arg do
  local path = arg[i]
  local src = slurp(path)
  local name = path:match("([^/]+)%.lua$")
  if not name or not name:match("^[a-z][a-z0-9_]*$") then
    fail("%s: script names must be lower-case identifiers", path)
  end
  local c = contract(path, src)
  scripts[#scripts + 1] = { name = name, src = src, sha = sha1(src), c = c }
end
table.sort(scripts, function(a, b) return a.name < b.name end)

local h = { "/* Generated by tools/embed.lua from the scripts in lua/. Do not edit. */",
  "#ifndef TALLY_SCRIPTS_GEN_H", "#define TALLY_SCRIPTS_GEN_H", '#include "tally.h"',
  "enum tally_script_id {" }
for _, s in ipairs(scripts) do h[#h + 1] = "    TALLY_SCRIPT_" .. s.name:upper() .. "," end
h[#h + 1] = "    TALLY_SCRIPT_COUNT_"
h[#h + 1] = "};"
h[#h + 1] = "extern const tally_script_info tally__scripts[TALLY_SCRIPT_COUNT_];"
h[#h + 1] = "#endif"

local function params(var, list)
  local out = { string.format("static const tally_script_param %s[] = {", var) }
  for _, e in ipairs(list) do
    out[#out + 1] = string.format("  { %s, %s, %s },", cstring(e.position), cstring(e.name), cstring(e.description))
  end
  out[#out + 1] = "};"
  return table.concat(out, "\n")
end

local c = { "/* Generated by tools/embed.lua from the scripts in lua/. Do not edit. */",
  '#include "tally.h"', '#include "scripts_gen.h"', "" }
for _, s in ipairs(scripts) do
  c[#c + 1] = params(s.name .. "_keys", s.c.keys)
  c[#c + 1] = params(s.name .. "_argv", s.c.argv)
end
c[#c + 1] = "const tally_script_info tally__scripts[TALLY_SCRIPT_COUNT_] = {"
for _, s in ipairs(scripts) do
  local notes = {}
  for _, n in ipairs(s.c.notes) do notes[#notes + 1] = n.description end
  c[#c + 1] = string.format("  { .name = %s, .sha1 = %s, .summary = %s,\n    .keys = %s,\n    .argv = %s,\n" ..
    "    .source = %s,\n    .length = %d,\n    .key_params = %s_keys, .nkey_params = %d,\n" ..
    "    .arg_params = %s_argv, .narg_params = %d,\n    .returns = %s,\n    .notes = %s },",
    cstring(s.name), cstring(s.sha), cstring(s.c.summary), cstring(prose("KEYS", s.c.keys)),
    cstring(prose("ARGV", s.c.argv)), cstring(s.src), #s.src, s.name, #s.c.keys, s.name, #s.c.argv,
    cstring(s.c.returns.description), cstring(table.concat(notes, "\n")))
end
c[#c + 1] = "};"

spit(out_h, table.concat(h, "\n") .. "\n")
spit(out_c, table.concat(c, "\n") .. "\n")
