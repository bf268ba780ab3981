# One image for every Python process of docker-compose.yml (API, relay, bridge, worker, beat,
# Flower, migrations); each service picks its entry point with `command`.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Requirements first, so code edits do not reinstall every dependency.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

COPY pyproject.toml README.md ./
COPY webapp webapp
COPY relay relay
COPY bridge bridge
COPY celery_tasks celery_tasks
COPY taskctl taskctl
COPY db db
COPY taskkit taskkit
RUN pip install --no-deps .

RUN useradd --system --uid 10001 --home-dir /app taskservice
USER taskservice
EXPOSE 8080 9101 9102 9103 5555
CMD ["python", "-m", "webapp.serve", "--bind", "0.0.0.0:8080"]
