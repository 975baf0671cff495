"""The casavi bridge benchmark (``python bench/run.py``)."""
