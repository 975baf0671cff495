"""Commands on the outbound topic: what the worker wants casavi to hold, entity by entity."""
