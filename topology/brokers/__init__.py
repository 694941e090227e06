"""One folder per broker, each with the same modules (see `base.py`), listed in `registry.py`."""
