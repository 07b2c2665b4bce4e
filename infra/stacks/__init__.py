"""Stacks: compositions of the constructs, one per account/region role."""
