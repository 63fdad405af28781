"""The spec registry fixture, shared with the contract tests."""

from tests.kalshi.test_kalshi_contract import registry  # noqa: F401  (a pytest fixture)
