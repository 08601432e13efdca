"""The training machinery behind `ModelWrapper.fit`: one loop and the small parts it uses.

- `loop`: the loop itself (train epoch, evaluation, the stop predicate's call sites)
- `state`, `stopping`: loop state, best-model tracking, early stopping, the `done` predicate
- `device`: device and precision (autocast and GradScaler as no-op objects when off)
- `optim`: built-in optimizers and LR schedulers
- `metrics`: whole-split metrics accumulated on the device
- `data`: batches (device copies, calling the model, targets) and a seeded DataLoader helper
- `seeding`: seeds and RNG states
- `checkpoint`: atomic save and load with fallback to the previous good checkpoint
- `records`, `progress`, `session`: status.json, metrics.jsonl, TensorBoard, the display
- `hooks`: checks of a user's hook overrides against their expected signatures
"""
