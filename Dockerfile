# The same image as scripts/image (which needs no container engine).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/moat ./cmd/moat && mkdir -p /out/var/lib/moat

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/moat /moat
COPY --from=build --chown=65532:65532 /out/var/lib/moat /var/lib/moat
ENV MOAT_DATA_DIR=/var/lib/moat
WORKDIR /var/lib/moat
USER 65532:65532
ENTRYPOINT ["/moat"]
CMD ["serve"]
