"""``bridge dlq``: the dead letters, grouped by reason, and their redrive."""
