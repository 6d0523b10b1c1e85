from tests.x86.conftest import pytest_generate_tests  # noqa: F401  (every engine)
