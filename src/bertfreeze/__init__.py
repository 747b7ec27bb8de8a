"""bertfreeze: fine-tuned vs frozen BERT vs sparse baselines, with honest statistics."""

__version__ = "0.1.0"
