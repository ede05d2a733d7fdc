# The tinycdn image the Kubernetes manifests (deploy/kubernetes/) run: one static-ish binary on
# Debian slim, as a non-root user. Build: docker build -t ghcr.io/example/tinycdn:0.1.0 .
FROM rust:1.95-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq nasm cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked -p tinycdn --bin tinycdn

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin tinycdn
COPY --from=build /src/target/dist/tinycdn /usr/local/bin/tinycdn
USER 10001
ENTRYPOINT ["/usr/local/bin/tinycdn"]
