"""The translation cache: translated blocks, the native jump cache, chain slots (tcache.py)."""
