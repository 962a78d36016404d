# The application image: every service is `eldercare <subcommand>`.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY eldercare eldercare
COPY ingest ingest
COPY gateway gateway
COPY alerting alerting
COPY api api
COPY simulators simulators
COPY migrations migrations
COPY firmware-contracts firmware-contracts
COPY deploy deploy
RUN pip install --no-cache-dir -c constraints.txt -e .
RUN useradd --system --uid 10001 eldercare
USER eldercare
ENTRYPOINT ["eldercare"]
CMD ["run"]
