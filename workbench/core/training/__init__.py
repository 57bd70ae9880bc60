"""Training: Trainer set-up, the run-store callback, the detached launcher and the worker entry point."""
