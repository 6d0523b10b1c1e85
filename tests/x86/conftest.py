"""Every instruction test runs on every engine (DESIGN.md principle 10): tests that take an
`engine` argument are parametrized over tests.asmguest.ENGINE_VARIANTS (the interpreter,
the translator, and the translator compiling at tier 2 from the start)."""

from tests.asmguest import ENGINE_VARIANTS


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ENGINE_VARIANTS)
