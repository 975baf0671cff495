"""The casavi manager API as the bridge uses it: wire models and the import contract."""
