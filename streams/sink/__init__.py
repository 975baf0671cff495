"""The sink: casavi commands from Kafka -> casavi manager API (``bridge sink``)."""
