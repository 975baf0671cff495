"""casavi bridge: streams ERP master data from CDC topics into the casavi manager API."""

__version__ = "0.1.0"
