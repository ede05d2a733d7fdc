-- wrk script: every request asks for a path never asked before (all misses), under a prefix
-- given after `--` (e.g. the peer and round), one counter per wrk thread.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  prefix = args[1] or "x"
  base = args[2] or "/slow/20/4096/"
  counter = 0
end
function request()
  counter = counter + 1
  return wrk.format("GET", base .. prefix .. "-" .. id .. "-" .. counter)
end
