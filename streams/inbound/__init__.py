"""The inbound flow (R17, R19): tickets and comments created in the casavi portal, as events on
the inbound topic for the ERP's import job (``bridge hooks``)."""
