"""`python3 -m vmm ...` is the `vmm` command."""

import sys

from .cli import main

sys.exit(main())
