"""`taskctl`, the operator's command line: migrations, topics, partitions, API keys, tasks and
the dead-letter topic. A client of PostgreSQL and Kafka (and of the API where it says so)."""
