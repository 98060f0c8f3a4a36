"""Test set-up shared by every test: the fixtures live in tests/kit/."""

pytest_plugins = [
    "tests.kit.devices",
    "tests.kit.pl",
    "tests.kit.keys",
    "tests.kit.broker",
    "tests.kit.firmware",
    "tests.kit.hub",
    "tests.kit.edge",
    "tests.kit.browser",
    "tests.kit.ci",
    "tests.kit.oracles",
]
