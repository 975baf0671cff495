"""The local streaming stack: Kafka (KRaft), Kafka Connect with Debezium, PostgreSQL as plain processes.

``bridge stack up|down|status|logs`` (see :mod:`streams.stack.commands`) drive it; docs/stack.md
describes ports, directories and versions.
"""
