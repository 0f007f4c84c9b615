# syntax=docker/dockerfile:1
# privlink: a static binary on a distroless base, running as non-root.
#
# privlink's addresses are loopback addresses of the container's network
# namespace: run the image as a sidecar whose namespace the application
# shares (a Kubernetes pod; compose network_mode: "service:privlink";
# docker run --network container:privlink). deploy/ has both, and
# docs/containers.md explains what works and what does not.
#
#   docker build -t privlink .
#   docker run -d --name privlink privlink        # or: -v $PWD/t.yaml:/t.yaml:ro privlink run -c /t.yaml
#   docker run --rm --network container:privlink privlink loadtest --target 127.0.1.10:8443 --duration 5s
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# The flags of `make build`; then the binary checks the embedded default and
# the topology of deploy/.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/privlink ./cmd/privlink \
 && /out/privlink validate \
 && /out/privlink validate -c deploy/topology.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/privlink /usr/local/bin/privlink
USER nonroot:nonroot
# No shell and no curl here: the health check is privlink itself, asking
# GET /readyz of the admin API inside the container's namespace
# (127.0.0.1:9480, or $PRIVLINK_ADMIN_LISTEN). It only makes sense for
# `privlink run`: disable it for other commands (docker run --no-healthcheck,
# compose healthcheck: {disable: true}). Kubernetes ignores it: use an exec
# probe with the same command (deploy/kubernetes/).
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/privlink", "health"]
# SIGTERM (docker stop) drains connections for up to --drain-timeout (10s):
# give docker stop a longer timeout (-t 15) to let it finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/privlink"]
CMD ["run"]
