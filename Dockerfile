# socure-shadow-proxy: a release build in a Rust stage, run from a minimal
# non-root image. The build step is the same `cargo build --release --locked`
# that CI compiles (CI cannot run Docker on its machines; see docs/deployment.md).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY judge ./judge
COPY report ./report
# The commit `--version` and the build_info metric show. This stage has no
# .git, so build.rs cannot ask git; without the arg the build still succeeds
# and says "unknown commit":
#   docker build --build-arg SHADOW_PROXY_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG SHADOW_PROXY_COMMIT
RUN cargo build --release --locked

# distroless/cc: glibc and libgcc only, no shell, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/socure-shadow-proxy /usr/local/bin/socure-shadow-proxy
COPY config/shadow-proxy.toml /etc/socure-shadow-proxy/shadow-proxy.toml
USER nonroot:nonroot
# 8080: the example config's listener; 443: the TLS listener of the hostAliases
# deployment (docs/deployment.md); 9901: the admin listener (probes, metrics).
EXPOSE 8080 443 9901
# The runtime image has no shell or curl: the binary checks its own admin listener.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/socure-shadow-proxy", "healthcheck", "--address", "127.0.0.1:9901"]
# Kubernetes sends SIGTERM; the proxy drains connections and mirrors, then flushes the shadow log.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/socure-shadow-proxy"]
CMD ["run", "--config", "/etc/socure-shadow-proxy/shadow-proxy.toml"]
