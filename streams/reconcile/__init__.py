"""Reconcile: read casavi back, compare with what the bridge expects it to hold, repair the drift."""
