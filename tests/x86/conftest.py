"""Every instruction test runs on every engine (DESIGN.md principle 10): tests that take an
`engine` argument are parametrized over tests.asmguest.ENGINE_VARIANTS (the interpreter,
the translator, and the translator compiling at tier 2 from the start).

The long profile: VMM_TEST_EXAMPLES=N multiplies every hypothesis test's max_examples by N
(CI runs the short profile, N=1), e.g. `VMM_TEST_EXAMPLES=20 python3 -m pytest tests/x86`."""

import os

from hypothesis import settings

from tests.asmguest import ENGINE_VARIANTS

FACTOR = int(os.environ.get("VMM_TEST_EXAMPLES", "1"))


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ENGINE_VARIANTS)


def pytest_collection_modifyitems(items):
    if FACTOR == 1:
        return
    scaled = set()
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None and id(test) not in scaled:
            scaled.add(id(test))
            test._hypothesis_internal_use_settings = settings(current, max_examples=current.max_examples * FACTOR)
