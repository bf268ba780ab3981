"""The bridge: consumes `tasks` records from Kafka and queues them as Celery messages."""
