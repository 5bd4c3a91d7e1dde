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
COPY analytics analytics
COPY outbound outbound
COPY api api
COPY cli cli
RUN pip install --no-cache-dir .
VOLUME /data
EXPOSE 8000
# Binding every interface: the API refuses to start unless PARLEY_API__ALLOWED_HOSTS names the
# hub (the Host clients send), e.g. -e PARLEY_API__ALLOWED_HOSTS='["localhost", "hub.example.com"]'
# -e PARLEY_API__PUBLIC_URL=https://hub.example.com (docker-compose.yml sets both). On first
# start it prints a one-time sign-in link for the first admin.
CMD ["parley", "serve", "--host", "0.0.0.0"]
