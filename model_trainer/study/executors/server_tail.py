"""Imported last by the workers' forkserver, after torch and the recipe's modules.

- `gc.freeze()` moves every object loaded so far out of the collector's reach, as
  Python's documentation advises before forking: the workers' collections never write to
  those pages, so the workers keep sharing them with the server (copy-on-write).
- The server exits without tearing torch down (~0.3 s that a user piping the study's
  output would wait for): the workers it forked never run these exit handlers (they leave
  through os._exit), and the server holds nothing to flush.
"""

import atexit
import gc
import os

gc.freeze()
atexit.register(os._exit, 0)
