"""Running one trial as processes and files: the trial folder, its ranks, its status.

- `experiment`: `run_experiment`, one trial from recipe to files, safe to rerun
- `rerun`: what a trial folder says about a rerun (finished? what changed?)
- `rank`: one rank: build the wrapper, resume, fit, report a `RankOutcome`
- `launch`: the ranks of a data-parallel trial as processes that never hang
- `session`, `status_record`, `progress`: the trial folder the loop reports to, status.json,
  the display
- `code_check`, `provenance`: the code a trial ran, and what ran it
"""
