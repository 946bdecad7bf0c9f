# The bot's image: Python slim, dependencies from wheels only, runs as an unprivileged user.
#   docker build -t loyalty-bot .   (docker-compose.yml builds it for every service)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir -p bot handlers storage \
    && touch bot/__init__.py handlers/__init__.py storage/__init__.py \
    && pip install '.[redis]' \
    && pip uninstall -y loyalty-support-bot

COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
# Compiled catalogues are baked in: the running user cannot (and need not) write /app.
RUN pip install --no-deps -e . \
    && python -c "from bot.i18n import compile_catalogs; compile_catalogs()" \
    && useradd --create-home --uid 10001 --user-group bot \
    && mkdir -p /app/data \
    && chown bot:bot /app/data

USER bot
ENV DATABASE_URL=sqlite:////app/data/bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
EXPOSE 8080
VOLUME ["/app/data"]
# SIGTERM lets the bot finish the updates in hand (SHUTDOWN_GRACE_SECONDS) before it exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["python", "-m", "bot"]
