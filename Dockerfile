# One image for the API and the ingest flow workers of the scaled-out stack (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PARLEY_DATA_DIR=/data
COPY pyproject.toml README.md ./
COPY hub hub
COPY channels channels
COPY enrichment enrichment
COPY flows flows
COPY kb kb
COPY crm crm
COPY api api
COPY cli cli
RUN pip install --no-cache-dir .
VOLUME /data
EXPOSE 8000
CMD ["parley", "serve", "--host", "0.0.0.0"]
