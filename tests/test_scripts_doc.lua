-- test_scripts_doc.lua -- kit suite, under tests/with-redis (Lua 5.4):
--   lua5.4 test_scripts_doc.lua docs/scripts.md TALLY_BIN
-- Replays docs/scripts.md so it cannot drift from the scripts:
--   1. every "$ command" of its ```console blocks runs, in order, in one bash
--      session against the test server (`redis-cli` and `tally` on PATH point
--      there), and prints what the doc shows below it (a <...> in the doc
--      stands for any text: times, lease ids, SHAs);
--   2. every ```sh block is a tally command that makes the same call as the
--      section's `redis-cli ... EVALSHA`: it runs against a scratch database
--      while MONITOR watches, and its EVALSHA arguments must equal the doc's,
--      byte for byte (on a mismatch the tool's call is printed ready to paste);
--   3. every script of `tally scripts list --json` has a worked call (found by
--      the SHA that SCRIPT LOAD returned for the doc's bytes).
local doc_path, tally_bin = arg[1], arg[2]
local port, dir = os.getenv("TALLY_TEST_PORT"), os.getenv("TALLY_TEST_DIR")
assert(doc_path and tally_bin and port and dir, "usage: with-redis lua5.4 test_scripts_doc.lua DOC TALLY_BIN")
if tally_bin:sub(1, 1) ~= "/" then tally_bin = os.getenv("PWD") .. "/" .. tally_bin end

local failures = 0
local function fail(fmt, ...)
  failures = failures + 1
  print("not ok: " .. string.format(fmt, ...))
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " '" .. path .. "'") end
end

local function run(cmd) -- output of a shell command
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- The doc: sections (## headings) with their tool blocks (```sh) and steps
-- ("$ command" lines of ```console blocks, continued by a trailing "\", and
-- the output lines below them).
local sections, section, block, step = {}, nil, nil, nil
for line in (read_all(doc_path) .. "\n"):gmatch("([^\n]*)\n") do
  if block and line == "```" then
    block, step = nil, nil
  elseif block == "sh" then
    section.tool = section.tool and (section.tool .. "\n" .. line) or line
  elseif block == "console" then
    if step and step.cmd:sub(-1) == "\\" and #step.expect == 0 then
      step.cmd = step.cmd .. "\n" .. line
    elseif line:sub(1, 2) == "$ " then
      step = { cmd = line:sub(3), expect = {}, section = section }
      section.steps[#section.steps + 1] = step
    elseif step then
      step.expect[#step.expect + 1] = line
    end
  elseif line:match("^## ") then
    section = { title = line:sub(4), steps = {} }
    sections[#sections + 1] = section
  elseif line == "```sh" or line == "```console" then
    if not section then section = { title = "(preamble)", steps = {} }; sections[1] = section end
    block = line:sub(4)
  end
end

-- `redis-cli` and `tally` on PATH, pointing at the test server; the tool
-- follows $TALLY_DOC_URL when set (the scratch database of part 2).
local redis_cli = run("command -v redis-cli"):gsub("%s+$", "")
local bin = dir .. "/doc-bin"
os.execute("mkdir -p '" .. bin .. "'")
write(bin .. "/redis-cli", string.format('#!/bin/sh\nexec %s -p %s "$@"\n', redis_cli, port), "755")
write(bin .. "/tally", string.format('#!/bin/sh\nTALLY_URL=${TALLY_DOC_URL:-redis://127.0.0.1:%s/0} exec %s "$@"\n',
  port, tally_bin), "755")

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- One bash session: each step's output and status into files, and an ECHO
-- marker before each so MONITOR's lines can be told apart.
local marker = redis_cli .. " -p " .. port .. " ECHO "
local script = { "export PATH=" .. shell_quote(bin) .. ":$PATH", "cd " .. shell_quote(dir) }
local n = 0
for si, s in ipairs(sections) do
  for _, st in ipairs(s.steps) do
    n = n + 1
    st.n = n
    script[#script + 1] = marker .. "doc-step-" .. n .. " >/dev/null"
    script[#script + 1] = "{\n" .. st.cmd .. "\n} > doc-out." .. n .. " 2>&1; echo $? > doc-rc." .. n
  end
  if s.tool then
    script[#script + 1] = marker .. "doc-tool-" .. si .. " >/dev/null"
    script[#script + 1] = "TALLY_DOC_URL=redis://127.0.0.1:" .. port .. "/9 bash -c " .. shell_quote(s.tool) ..
      " > doc-tool." .. si .. " 2>&1"
  end
end
script[#script + 1] = marker .. "doc-done >/dev/null"
write(dir .. "/doc-replay.sh", table.concat(script, "\n") .. "\n")

-- MONITOR runs throughout; "OK" says it is registered before anything is sent.
local mon = assert(io.popen("exec sh -c 'echo $$; exec " .. redis_cli .. " -p " .. port .. " monitor'"))
local mon_pid = mon:read("l")
assert(mon:read("l") == "OK", "MONITOR did not start")
os.execute("bash " .. shell_quote(dir .. "/doc-replay.sh"))

-- Reads MONITOR's quoted arguments: "a" "b\x1f" ... (sdscatrepr escapes).
local function monitor_args(text)
  local args, i = {}, 1
  local esc = { n = "\n", r = "\r", t = "\t", a = "\a", b = "\b", ['"'] = '"', ["\\"] = "\\" }
  while true do
    i = text:find('"', i, true)
    if not i then return args end
    local out, j = {}, i + 1
    while text:sub(j, j) ~= '"' do
      local c = text:sub(j, j)
      if c == "\\" then
        local e = text:sub(j + 1, j + 1)
        if e == "x" then
          out[#out + 1] = string.char(tonumber(text:sub(j + 2, j + 3), 16))
          j = j + 4
        else
          out[#out + 1] = esc[e] or e
          j = j + 2
        end
      else
        out[#out + 1] = c
        j = j + 1
      end
    end
    args[#args + 1] = table.concat(out)
    i = j + 1
  end
end

local calls = {} -- marker -> list of EVALSHA argument lists
local current
for line in function() return mon:read("l") end do
  local db, client, rest = line:match("^[%d.]+ %[(%d+) ([^%]]+)%] (.*)$")
  if rest and client ~= "lua" then
    local args = monitor_args(rest)
    if args[1] == "ECHO" and args[2]:match("^doc%-") then
      current = args[2]
      calls[current] = {}
      if current == "doc-done" then break end
    elseif args[1] == "EVALSHA" and current then
      table.insert(calls[current], args)
    end
  end
end
os.execute("kill " .. mon_pid)
mon:close()

-- 1. outputs
local function matches(want, got)
  local pattern = "^" .. want:gsub("<[^>]*>", "\1"):gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("\1", ".+") .. "$"
  return got:match(pattern) ~= nil
end
for _, s in ipairs(sections) do
  for _, st in ipairs(s.steps) do
    local out = read_all(dir .. "/doc-out." .. st.n)
    local rc = tonumber(read_all(dir .. "/doc-rc." .. st.n))
    local got = {}
    for l in out:gmatch("([^\n]*)\n") do got[#got + 1] = l end
    local ok = rc == 0 and #got == #st.expect
    for k = 1, #st.expect do ok = ok and matches(st.expect[k], got[k] or "") end
    if ok then
      print("ok: " .. s.title .. ": " .. st.cmd:match("^[^\n]*"))
    else
      fail("%s: $ %s\n  exit %d; printed:\n%s  the doc shows:\n%s", s.title, st.cmd, rc, out,
        table.concat(st.expect, "\n"))
    end
  end
end

-- The scripts by SHA, from the tool.
local names = {}
local list = run(shell_quote(tally_bin) .. " scripts list --json")
for name, sha in list:gmatch('"name":"(%w+)","sha1":"(%x+)"') do names[sha] = name end

local function word(s) -- a bash word for s
  if s:match("^[%w_.:/@=+,%-]+$") then return s end
  if s:match("[%c'\128-\255]") then
    return "$'" .. s:gsub("[%c'\\\128-\255]", function(c) return string.format("\\x%02x", c:byte()) end) .. "'"
  end
  return "'" .. s .. "'"
end

-- The tool's call as the doc would write it.
local function as_doc(args)
  local lines, line = {}, '$ redis-cli --no-raw EVALSHA "$' .. (names[args[2]] or "?") .. '_sha" ' .. args[3]
  local nkeys = tonumber(args[3])
  for k = 4, #args do
    local w = word(args[k])
    if #line + #w > 86 or k == 4 or k == 4 + nkeys then
      lines[#lines + 1] = line .. " \\"
      line = "    " .. w
    else
      line = line .. " " .. w
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function same(a, b)
  if #a ~= #b then return false end
  for k = 1, #a do if a[k] ~= b[k] then return false end end
  return true
end

-- 2. the doc's call is the tool's call; 3. every script has one
local covered = {}
for si, s in ipairs(sections) do
  local doc_calls = {}
  for _, st in ipairs(s.steps) do
    for _, c in ipairs(calls["doc-step-" .. st.n] or {}) do
      if st.cmd:match("redis%-cli") then doc_calls[#doc_calls + 1] = c; covered[c[2]] = true end
    end
  end
  if s.tool then
    local tool, match = calls["doc-tool-" .. si] or {}, nil
    for _, c in ipairs(doc_calls) do if tool[1] and same(tool[1], c) then match = c end end
    if #tool ~= 1 then
      fail("%s: the tool command made %d EVALSHA calls, not 1: %s\n%s", s.title, #tool, s.tool,
        read_all(dir .. "/doc-tool." .. si))
    elseif not match then
      fail("%s: no redis-cli EVALSHA of the doc is the call `%s` makes, which is:\n%s", s.title, s.tool,
        as_doc(tool[1]))
    else
      print("ok: " .. s.title .. ": the doc's call is exactly the one the tool makes (" .. #match - 3 ..
        " keys and arguments)")
    end
  end
end
for sha, name in pairs(names) do
  if covered[sha] then print("ok: " .. name .. ".lua has a worked call")
  else fail("%s.lua (%s) has no worked call in %s", name, sha, doc_path) end
end
print(failures .. " failed")
os.exit(failures == 0 and 0 or 1)
