"""Strategies (fair-value estimators), the shared edge-after-fees rule, and Kelly sizing.

Every strategy answers one question per market: what is the probability that YES wins, and may we
enter / should we exit? ``rules.propose`` turns that into an order proposal using the same
fee-aware edge rule for all of them, and ``sizing.kelly_size`` sizes it.
"""
