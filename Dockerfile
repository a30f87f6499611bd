# syntax=docker/dockerfile:1
# dbsync in a container: a static binary on distroless, run as a non-root user.
#
#   docker build --build-arg VERSION=1.2.3 -t dbsync:1.2.3 .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=1.2.3 -t dbsync:1.2.3 .
#   docker run -v "$PWD/dbsync.yaml:/etc/dbsync/dbsync.yaml:ro" -p 8080:8080 dbsync:1.2.3
#
# The build stage runs on the builder's own platform and cross-compiles for the
# target's (TARGETOS/TARGETARCH, which BuildKit sets; the defaults are for a builder
# without it). It downloads only the modules the binary links: no test-only module
# (the BigQuery emulator's tests are a module of their own, connectors/bigquery/emulatortest).
#
# The go build line below is the one place the release flags live:
# cmd/dbsync/version_test.go reads it and builds with exactly these flags.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# No `go mod download`: that would fetch every module go.mod names, test-only ones too
# (kustomize, Prometheus's rule parser). go build fetches only the modules the binary
# links; the cache mounts keep them, and the compiled packages, between builds.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dbsync ./cmd/dbsync

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="dbsync" \
      org.opencontainers.image.description="Syncs changed rows from SQL and BigQuery sources into an identity store of people" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/dbsync/dbsync" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/dbsync /usr/local/bin/dbsync
USER nonroot:nonroot
# /livez, /healthz, /readyz and /metrics of `dbsync serve`. No HEALTHCHECK: Kubernetes
# probes those endpoints (deploy/kubernetes).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dbsync"]
CMD ["serve", "-c", "/etc/dbsync/dbsync.yaml"]
