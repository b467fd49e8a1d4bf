# agent-runner: polls a dispatch repository and turns labelled issues into pull requests.
FROM python:3.11-slim-bookworm

# git for clones and pushes; ca-certificates for HTTPS. Pinned by the base image's Debian release.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.* ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/*

# A runner holds tokens worth stealing: every dependency is pinned and hash-checked.
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.txt

COPY runner/ runner/

RUN useradd --create-home --uid 10001 agent && mkdir -p /state && chown 10001:10001 /state
USER 10001:10001

ENV PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    AGENT_STATE_DIR=/state

VOLUME ["/state"]
ENTRYPOINT ["python", "-m", "runner"]
CMD ["run"]
