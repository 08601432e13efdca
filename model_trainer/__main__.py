"""`python -m model_trainer` is `mtrain`."""

from model_trainer.cli.entry import main

main()
