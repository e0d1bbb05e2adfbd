# poolserver image: build with the project's own dependency script, run without compilers.
#   docker build -t poolserver .
#   docker run --rm -p 1337:1337 -e THREADS=4 -e STRATEGY=leastbusy poolserver

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DPOOLSERVER_TESTS=OFF \
 && cmake --build --preset release --target poolserver poolactor

FROM debian:bookworm-slim
# Runtime libraries only (spdlog brings fmt); curl for the health check.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libspdlog1.10 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --uid 10001 poolserver
COPY --from=build /src/build/release/server/poolserver /usr/local/bin/poolserver
# The remote actor too: docker run --entrypoint poolactor poolserver HOST:PORT
COPY --from=build /src/build/release/actor/poolactor /usr/local/bin/poolactor
USER poolserver
# Configured by the same environment variables as everywhere (see README).
ENV PORT=1337 HOST=0.0.0.0
EXPOSE 1337
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/poolserver"]
