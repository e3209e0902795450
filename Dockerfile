# SPDX-License-Identifier: MIT
# Description: zerg in a container. A Debian 12 stage builds and installs
# it (./configure && make && make install); a slim Debian 12 stage holds
# the binary, the plugins and the runtime libraries only, and runs zerg as
# an unprivileged user on conf/docker/zerg.json (echo on 0.0.0.0:7000,
# HTTP on 0.0.0.0:8080). Docker's default seccomp profile denies io_uring,
# so run it with conf/docker/seccomp-io_uring.json (README.md, "Docker"):
#
#   docker build -t zerg .
#   docker run --rm --init \
#       --security-opt seccomp=conf/docker/seccomp-io_uring.json \
#       --ulimit memlock=8388608 -p 7000:7000 -p 8080:8080 zerg

FROM debian:12 AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gcc libc6-dev make pkg-config liburing-dev libjansson-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The configuration is read from /etc/zerg/zerg.json when -c is not given.
RUN ./configure CC=gcc --prefix=/usr/local --sysconfdir=/etc/zerg \
    && make -j"$(nproc)" \
    && make install DESTDIR=/out

FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends liburing2 libjansson4 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 zerg \
    && useradd --uid 10001 --gid zerg --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin zerg
COPY --from=build /out/usr/local/bin/zerg /usr/local/bin/zerg
COPY --from=build /out/usr/local/lib/zerg/ /usr/local/lib/zerg/
COPY conf/docker/zerg.json /etc/zerg/zerg.json
USER 10001:10001
EXPOSE 7000 8080
# QUIT is the graceful stop: connections finish what they are doing, within
# twice shutdown_timeout_ms (4 s in conf/docker/zerg.json), before docker
# stop's 10 s are up.
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/zerg"]
CMD ["-c", "/etc/zerg/zerg.json"]
