# syntax=docker/dockerfile:1
#
# Two stages:
#   builder  builds the static dist/enclave-init with scripts/build-static (libnl, OpenSSL and
#            zlib from Debian, their static libraries included; python3 stamps the version)
#   enclave  an example enclave image: the binary as /sbin/enclave-init, the files of rootfs/
#            (boot JSON and an example Python app), and CMD set to the binary.
#
#   docker build -t my-enclave .
#   nitro-cli build-enclave --docker-uri my-enclave:latest --output-file my-enclave.eif
#
# To add enclave-init to your own image, copy only the binary and your boot JSON:
#   COPY --from=builder /src/dist/enclave-init /sbin/enclave-init
#   COPY boot.json /etc/enclave-init/boot.json
#   CMD ["/sbin/enclave-init"]

ARG SWIFT_IMAGE=swift:6.3-bookworm

FROM ${SWIFT_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnl-3-dev libnl-route-3-dev libssl-dev zlib1g-dev pkg-config binutils python3-minimal \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .git stays out of the build context (.dockerignore): the commit the binary names comes from
# --build-arg ENCLAVE_INIT_COMMIT=$(git rev-parse --short=12 HEAD), else "unknown".
ARG ENCLAVE_INIT_COMMIT=unknown
RUN scripts/build-static

FROM debian:bookworm-slim AS enclave
# python3, not python3-minimal: the example app needs http.server, which -minimal leaves out.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 app \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /app app
COPY --from=builder /src/dist/enclave-init /sbin/enclave-init
COPY rootfs/ /
# CMD, not ENTRYPOINT: nitro-cli build-enclave runs the image's CMD when there is one and then
# ignores ENTRYPOINT altogether (it never joins the two the way `docker run` does). With CMD
# set to enclave-init, AWS's init runs it as its child in the enclave; enclave-init then reads
# /etc/enclave-init/boot.json and starts the app listed there (app.command).
CMD ["/sbin/enclave-init"]
