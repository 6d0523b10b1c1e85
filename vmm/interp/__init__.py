"""The reference interpreter: the shared semantics evaluated on Python ints (builder.py, engine.py)."""
