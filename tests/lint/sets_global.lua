-- sets a global: Redis 7 refuses this at run time
counter = 1
return counter
