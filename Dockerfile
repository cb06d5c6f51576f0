# EaaS Portal image: the same entry script (scripts/portal) as `make run`; web or worker
# is chosen by the command. No image was built on the development machine (no Docker
# engine there); CI runs the same set-up through `make test`.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY config config
COPY portal portal
COPY envs envs
COPY catalog catalog
RUN python -m venv /venv && /venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends git postgresql-client zstd ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 portal \
 && mkdir -p /data && chown portal:portal /data
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=portal:portal . .
ENV PATH=/venv/bin:$PATH PORTAL_PYTHON=/venv/bin/python PORTAL_DATA_DIR=/data \
    PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000
USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
ENTRYPOINT ["scripts/portal"]
# `web` (migrates and collects static first), or `worker`.
CMD ["web"]
