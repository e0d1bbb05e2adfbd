# poolserver image: build with the project's own dependency script, run without compilers.
#   docker build -t poolserver .
#   docker run --rm -p 1337:1337 -e THREADS=4 -e STRATEGY=leastbusy poolserver
# CI builds and runs it (scripts/docker-test.sh): offline, on a debootstrapped Debian base.

# Both stages start from BASE: Docker Hub's debian:bookworm by default; a machine that cannot
# reach Docker Hub passes Debian's own bookworm made by debootstrap and `docker import`ed
# (--build-arg BASE=IMAGE, as scripts/docker-test.sh does). One base rather than
# bookworm-slim for the runtime: a build with another base then still makes the image users
# get, and the runtime stage only adds three small packages to it.
ARG BASE=debian:bookworm

FROM ${BASE} AS build
WORKDIR /src
# What the release build needs (scripts/install-deps.sh build: no clang, doctest, nginx or
# benchmark libraries; bench/ is skipped when Google Benchmark is missing).
COPY scripts/install-deps.sh scripts/apt-install.sh scripts/
RUN scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DPOOLSERVER_TESTS=OFF \
 && cmake --build --preset release -j "$(nproc)" --target poolserver poolactor

FROM ${BASE}
# Runtime libraries only (spdlog brings fmt; libssl3: TLS on the actor port); curl for the
# health check.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libspdlog1.10 libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --uid 10001 poolserver
COPY --from=build /src/build/release/server/poolserver /usr/local/bin/poolserver
# The remote actor too: docker run --entrypoint poolactor poolserver HOST:PORT
COPY --from=build /src/build/release/actor/poolactor /usr/local/bin/poolactor
USER poolserver
# Configured by the same environment variables as everywhere (docs/configuration.md). poolserver is
# PID 1: on `docker stop` (SIGTERM) it drains and exits 0, well within the 10 s grace.
ENV PORT=1337 HOST=0.0.0.0
EXPOSE 1337
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/poolserver"]
