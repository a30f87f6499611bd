# syntax=docker/dockerfile:1
# dbsync in a container: a static binary on distroless, run as a non-root user.
#
#   docker build --build-arg VERSION=1.2.3 -t dbsync:1.2.3 .
#   docker run -v "$PWD/dbsync.yaml:/etc/dbsync/dbsync.yaml:ro" -p 8080:8080 dbsync:1.2.3
#
# The go build line below is the one place the release flags live:
# cmd/dbsync/version_test.go reads it and builds with exactly these flags.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dbsync ./cmd/dbsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dbsync /usr/local/bin/dbsync
USER nonroot:nonroot
# /healthz, /readyz and /metrics of `dbsync serve`. No HEALTHCHECK: Kubernetes probes
# those endpoints (deploy/kubernetes).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dbsync"]
CMD ["serve", "-c", "/etc/dbsync/dbsync.yaml"]
