# The API image; the worker runs the same image with `adledger worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer, so code changes do not reinstall them.
COPY pyproject.toml ./
RUN mkdir adledger && touch adledger/__init__.py \
    && pip install . \
    && pip uninstall -y adledger \
    && rm -rf adledger build adledger.egg-info

COPY adledger ./adledger
RUN pip install --no-deps . && rm -rf build adledger.egg-info

RUN useradd --create-home --uid 10001 adledger
USER adledger

# Inside a container the API must listen on every interface, not only loopback.
ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000

CMD ["adledger", "serve"]
