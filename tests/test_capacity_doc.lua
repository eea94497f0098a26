-- test_capacity_doc.lua -- kit suite (Lua 5.4, no server):
--   lua5.4 test_capacity_doc.lua docs/capacity.md TALLY_BENCH
-- docs/capacity.md cites the bench's figures by name, in backticks
-- (`events_per_s.cluster.batch`), so a new run can refresh its numbers. Every
-- cited name must be one `tally-bench --list-figures` prints (names, not
-- values: the values depend on the machine): a backticked word whose first
-- part (before the first dot, or the whole word) names a kind of figure the
-- bench prints is a citation, and must be a figure; the document must cite the
-- model's inputs (at least one figure of each kind).
local doc_path, bench = arg[1], arg[2]
assert(doc_path and bench, "usage: lua5.4 test_capacity_doc.lua DOC TALLY_BENCH")

local failures = 0
local function fail(fmt, ...)
  failures = failures + 1
  print("not ok: " .. string.format(fmt, ...))
end

local f = assert(io.open(doc_path, "rb"))
local doc = f:read("a")
f:close()

local names, kinds = {}, {}
local p = assert(io.popen("'" .. bench .. "' --list-figures"))
for line in p:lines() do
  local name = line:match("^([%w_.]+)\t")
  if name then
    names[name] = true
    kinds[name:match("^[^.]+")] = false -- not cited yet
  end
end
assert(p:close(), bench .. " --list-figures failed")
if next(names) == nil then fail("%s --list-figures printed no figure", bench) end

local cited, count = {}, 0
for word in doc:gmatch("`([^`\n]+)`") do
  local kind = word:match("^[%w_]+")
  if kind and kinds[kind] ~= nil and word:match("^[%w_.]+$") then
    if names[word] then
      kinds[kind] = true
      if not cited[word] then count = count + 1 end
      cited[word] = true
    else
      fail("%s cites `%s`, which tally-bench --list-figures does not print", doc_path, word)
    end
  end
end
for kind, seen in pairs(kinds) do
  if not seen then fail("%s cites no figure of kind %s", doc_path, kind) end
end
if count < 20 then fail("%s cites only %d figures", doc_path, count) end
print(string.format("%s: %d figures cited", failures == 0 and "ok" or "not ok", count))
os.exit(failures == 0 and 0 or 1)
