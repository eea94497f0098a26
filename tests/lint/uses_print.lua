-- print is not available inside Redis
print("hello")
return 1
