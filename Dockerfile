# customs-gateway image: `docker compose up` runs it beside RabbitMQ (docker-compose.yml).
# The configuration (gateway.toml) and partners/ are mounted at run time; keys and the SQLite store
# live in volumes (/app/keys, /app/var).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEWAY_CONFIG=/app/gateway.toml

WORKDIR /app

# Dependencies first, in their own layer: only the runtime ones ([project].dependencies), at the
# versions pinned in requirements.lock (which also pins the dev tools; those stay out of the image).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source tree as in a checkout, installed in place (editable, no further dependencies) so that
# files the gateway reads next to its package (schemas/, examples/) are where they are in development.
COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --create-home --home-dir /home/gateway --uid 10001 gateway \
    && mkdir -p /app/keys /app/var \
    && chown gateway:gateway /app/keys /app/var

USER gateway
EXPOSE 8080
VOLUME ["/app/keys", "/app/var"]

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

ENTRYPOINT ["gateway"]
CMD ["run", "--config", "/app/gateway.toml"]
