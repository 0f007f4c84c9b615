# syntax=docker/dockerfile:1
# privlink: a static binary on a distroless base, running as non-root.
# The default topology is embedded in the binary: `docker run IMAGE` serves it
# inside the container's loopback; mount your own with -v and `run -c`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/privlink ./cmd/privlink \
 && /out/privlink validate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/privlink /usr/local/bin/privlink
USER nonroot:nonroot
# The admin API listens on loopback unless told otherwise:
#   docker run -e PRIVLINK_ADMIN_LISTEN=0.0.0.0:9480 -p 9480:9480 IMAGE
EXPOSE 9480
ENTRYPOINT ["/usr/local/bin/privlink"]
CMD ["run"]
