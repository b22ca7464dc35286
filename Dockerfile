# syntax=docker/dockerfile:1
# Build a static qrpay binary, then run it as an unprivileged user in a
# minimal image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/qrpay ./cmd/qrpay

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/qrpay /usr/local/bin/qrpay
USER nonroot:nonroot
EXPOSE 8080
# The image has no shell: the binary probes its own /readyz.
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 CMD ["/usr/local/bin/qrpay", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/qrpay"]
CMD ["serve"]
