"""Change data capture: Debezium change events decoded into typed row changes."""
