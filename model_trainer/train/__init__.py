"""The training loop and the parts it is made of; no processes, no trial folders.

- `loop`: the loop itself (`Loop`: one epoch of train steps, evaluation, checkpoints)
- `state`, `stopping`: loop state, best-model tracking, early stopping, the stop predicate
- `session`: what the loop reports to (a base that writes nothing; a trial's writes files)
- `device`: device and precision (autocast and GradScaler as no-op objects when off)
- `optim`: built-in optimizers and LR schedulers
- `metrics`: whole-split metrics accumulated on the device
- `data`: batches (device copies, calling the model, targets) and a seeded DataLoader helper
- `seeding`: seeds and RNG states
- `checkpoint`: atomic save and load with fallback to the previous good checkpoint
- `distributed`, `shard`: DDP inside one trial (every helper is a no-op in one process)
- `hooks`: checks of a user's hook overrides against their expected signatures
"""
