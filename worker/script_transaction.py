"""A transaction of commands no one reads the answers of, sent as one Lua script instead of
MULTI, the commands and EXEC.

Redis runs it as it runs a transaction: all of it, with nothing in between, each command
whether or not another one failed. redis-py's work for each command of a pipeline (packing
it, then reading and converting its answer, and the QUEUED before it) is done once for the
whole script: a job's start, fifteen of RQ's commands, cost the worker 60–80 µs less so
(bench/RESULTS.md, seventh round).
"""

from __future__ import annotations

from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import ResponseError

RUN_COMMANDS = """
local i, failed = 1, {}
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  local answer = redis.pcall(unpack(ARGV, i + 1, i + count))
  if type(answer) == 'table' and answer.err then
    failed[#failed + 1] = answer.err
  end
  i = i + count + 1
end
return failed
"""
"""ARGV holds each command as its length, then its words. The keys are not declared: a
standalone Redis, as RQ's own scripts assume (a cluster would want them)."""
_RUN = Script(None, RUN_COMMANDS.encode())  # run by its SHA, loaded into Redis on first use


def send_as_one_script(client: Redis, pipeline: Pipeline) -> None:
    """The commands queued on ``pipeline`` (made by ``client``), run as one script, then the
    pipeline reset. Raises ResponseError with the first command's error, as ``execute()``
    would."""
    words: list = []
    for args, _options in pipeline.command_stack:
        words.append(len(args))
        words.extend(args)
    try:
        failed = _RUN(args=words, client=client) if words else []
    finally:
        pipeline.reset()
    if failed:
        raise ResponseError(failed[0].decode() if isinstance(failed[0], bytes) else str(failed[0]))
