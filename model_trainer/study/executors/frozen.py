"""Imported last by the workers' forkserver, after torch and the recipe's modules.

`gc.freeze()` moves every object loaded so far out of the collector's reach, as Python's
documentation advises before forking: the workers' collections never write to those
pages, so the workers keep sharing them with the server (copy-on-write), and the server
exits without collecting torch's objects one by one (~0.5 s that a user piping the
output would wait for)."""

import gc

gc.freeze()
