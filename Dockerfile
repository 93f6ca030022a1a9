# The threadkeeper image: one console script; compose.yaml runs it as the API
# (`threadkeeper serve`), a worker and the cron. Redis and the archive are separate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    THREADKEEPER_HOME=/var/lib/threadkeeper

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /var/lib/threadkeeper threadkeeper \
 && mkdir -p /var/lib/threadkeeper /etc/threadkeeper \
 && chown threadkeeper:threadkeeper /var/lib/threadkeeper /etc/threadkeeper

USER threadkeeper
WORKDIR /var/lib/threadkeeper
EXPOSE 8750
CMD ["threadkeeper", "serve"]
