"""Runnable examples used by `recipes/*.yaml` and the tests.

- `digits`: an MLP on scikit-learn's digits (offline); its wrapper's `config_parser`
  fills the Derived `num_classes` from the dataset (`make demo`).
- `cifar`: a small ResNet on CIFAR10 with dict batches; `data.args.source: fake` uses
  torchvision's FakeData of the same shape for tests and offline checks.
- `gan`: a GAN on 2-D points; the model returns `loss=None` and the wrapper's
  `train_step` updates two optimizers by hand.
- `lightning_interop`: a wrapper whose `fit()` hands the model to Lightning's Trainer
  while its metrics still land in metrics.jsonl and status.json.
"""
