"""The outbox relay: publishes committed outbox rows to Kafka (`python -m relay`)."""
