"""Operator tooling shared by the make targets, the demo, the benchmark and the tests:
deploying to the local cloud, reaching each account's clients, sending transactions
and finding what they produced."""
