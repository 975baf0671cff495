# The bridge's image: `bridge worker`, `bridge sink` and `bridge sim` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BRIDGE_STACK__HOME=/var/lib/casavi-bridge

WORKDIR /app
COPY pyproject.toml setup.py MANIFEST.in README.m[d] ./
COPY streams ./streams
COPY schemas ./schemas
COPY connect ./connect
RUN pip install . \
    && useradd --system --create-home --home-dir /var/lib/casavi-bridge bridge \
    && chown bridge /var/lib/casavi-bridge

USER bridge
VOLUME ["/var/lib/casavi-bridge"]
CMD ["bridge", "worker"]
