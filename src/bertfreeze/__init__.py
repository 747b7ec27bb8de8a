"""bertfreeze: fine-tuned vs frozen BERT vs sparse baselines, with honest statistics."""

from bertfreeze.resolvers import register as _register_resolvers

__version__ = "0.1.0"
_register_resolvers()
