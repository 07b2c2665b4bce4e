"""Small constructs with secure defaults, composed into the stacks."""
