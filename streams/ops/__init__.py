"""Operating the bridge: the small HTTP server of worker and sink (``/metrics``, ``/healthz``,
``/readyz``), health checks, log format and figures read from Kafka."""
