-- os is not available inside Redis
return os.time()
