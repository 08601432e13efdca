"""`python -m model_trainer` is `mtrain`."""

from model_trainer.cli.app import main

main()
