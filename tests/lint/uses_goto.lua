-- goto is Lua 5.2+: luacheck accepts it, Redis's Lua 5.1 does not
for i = 1, 3 do
  if i == 2 then goto continue end
  redis.call("INCR", KEYS[1])
  ::continue::
end
return 1
