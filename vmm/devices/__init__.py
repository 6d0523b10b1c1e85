"""Device models behind one bus protocol; every fixed address and port is in layout.py."""
