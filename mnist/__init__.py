"""MNIST: data, a registry of tiny all-conv models, a trainer (CLI, DDP) and its plots."""
