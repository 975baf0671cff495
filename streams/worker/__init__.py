"""The worker: CDC topics in, casavi commands out (Faust)."""
