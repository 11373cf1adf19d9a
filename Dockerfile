# OpenGBA images for the docker-compose lab (docker-compose.yml).
#
# No base image is pulled: every target is FROM scratch and holds static (CGO_ENABLED=0)
# binaries that scripts/build-images.sh builds on the host. The build context is NOT the
# repository root but the directory that script prepares (default dist/docker):
#
#   bin/{hss-sim,bsf,naf,gba-ue}   static binaries
#   rootfs/data/                   empty; becomes /data, owned by 65532 (named volumes
#                                  mounted there start with this owner)
#   rootfs/tmp/                    empty; becomes /tmp (mode 1777)
#
#   scripts/build-images.sh            # builds the binaries, the context and all four images
#   docker build -f Dockerfile --target bsf -t opengba/bsf:lab dist/docker
#
# Targets: hss-sim, bsf, naf, gba-ue: one binary each. The compose healthchecks run the
# servers' own "healthcheck URL" subcommand (a plain GET, exit 0 on 2xx). There is no shell,
# no CA bundle and no tzdata in these images: the lab speaks plain HTTP and Diameter on a
# private network, in UTC. Every process runs as the numeric non-root user 65532.

FROM scratch AS base
COPY --chown=65532:65532 rootfs/ /
USER 65532:65532
WORKDIR /data
ENV TMPDIR=/tmp

FROM base AS hss-sim
COPY bin/hss-sim /usr/local/bin/hss-sim
EXPOSE 3868 8080
ENTRYPOINT ["/usr/local/bin/hss-sim"]
CMD ["serve", "--config", "/etc/opengba/hss-sim.yaml"]

FROM base AS bsf
COPY bin/bsf /usr/local/bin/bsf
EXPOSE 8080 3869 9091
ENTRYPOINT ["/usr/local/bin/bsf"]
CMD ["-config", "/etc/opengba/bsf.yaml"]

FROM base AS naf
COPY bin/naf /usr/local/bin/naf
EXPOSE 8080 8443 9090
ENTRYPOINT ["/usr/local/bin/naf"]
CMD ["serve", "--config", "/etc/opengba/naf.yaml"]

# Last, so that a plain "docker build" without --target gives the device client.
FROM base AS gba-ue
COPY bin/gba-ue /usr/local/bin/gba-ue
ENTRYPOINT ["/usr/local/bin/gba-ue"]
CMD ["help"]
