"""Celery side of the service: the app, the execute task, handlers and beat jobs."""
