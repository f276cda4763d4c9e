"""Operations: Prometheus metrics at ``/metrics`` and JSON-line logs with a request id."""
