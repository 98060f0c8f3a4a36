"""Test set-up shared by every test: the fixtures live in tests/kit/."""

pytest_plugins = [
    "tests.kit.pl",
    "tests.kit.devices",
    "tests.kit.keys",
    "tests.kit.hub",
]
