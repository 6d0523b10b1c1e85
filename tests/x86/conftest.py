"""Every instruction test runs on every engine (DESIGN.md principle 10): tests that take an
`engine` argument are parametrized over vmm.machine.ENGINES."""

from vmm.machine import ENGINES


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", sorted(ENGINES))
