#!/bin/sh
# SPDX-License-Identifier: MIT
# Description: make bench. Measures zerg against nginx and the raw io_uring
# baseline (tests/bench/raw.c) in the same run, zerg's proxy plugin
# against nginx's stream proxy and HAProxy, and what a per-request access
# log costs zerg and nginx, and, with BASELINE=<commit>, an earlier zerg
# built from git beside the current one; server (or proxy) pinned to one
# CPU and load generator (and the proxies' backend) to another, loopback
# only, every run bounded in time. Each figure is the median of 3 runs; the
# markdown tables go to stdout and, with the raw data and gnuplot charts, to
# tests/bench/results/.
#
# Environment: BENCH_QUICK=1 (one short run per figure, a smoke test),
# BENCH_SERVER_CPU (default 0), BENCH_CLIENT_CPU (default 1),
# BENCH_RUNS, BENCH_DURATION (seconds per measured run), BENCH_IDLE_CONNS,
# BENCH_ONLY (a subset of: keepalive pipeline churn echo memory scale
# modules proxy arena accesslog bundles rss, or the sections' numbers 1 to
# 12: BENCH_ONLY=8 is proxy, 9 arena, 10 accesslog, 11 bundles, 12 rss),
# BENCH_ARENA_CONNS (connections of the arena profiles), BENCH_RSS_BYTES
# (section 12's echo traffic, default 1 GiB), BASELINE (a commit: make
# bench BASELINE=ccddd41 builds that zerg with git archive, ./configure
# and make in the run's temporary directory, and runs it in the same
# rounds as the current build in sections 1, 2, 3, 5, 6 and 12; unset: no
# baseline figures).

set -u
cd "$(dirname "$0")/../.." || exit 1

B=tests/bench
RESULTS=$B/results
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    RUNS=${BENCH_RUNS:-1} DUR=${BENCH_DURATION:-2}
else
    RUNS=${BENCH_RUNS:-3} DUR=${BENCH_DURATION:-5}
fi
WARM=1                                  # seconds of warm-up before each run
SECTIONS="keepalive pipeline churn echo memory scale modules proxy arena accesslog bundles rss"
ONLY=
for w in ${BENCH_ONLY:-$SECTIONS}; do
    case $w in
    [1-9] | 1[0-2]) w=$(echo "$SECTIONS" | cut -d' ' -f"$w") ;;
    esac
    case " $SECTIONS " in
    *" $w "*) ONLY="$ONLY $w" ;;
    *) printf 'bench: BENCH_ONLY: unknown section "%s" (one of: %s, or 1-12)\n' "$w" "$SECTIONS" >&2; exit 2 ;;
    esac
done
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
SRV_CPU=${BENCH_SERVER_CPU:-0}
CLI_CPU=${BENCH_CLIENT_CPU:-1}
BIG=${BENCH_IDLE_CONNS:-10000}          # idle and largest scale test
NADDRS=16                               # 127.0.0.1 .. 127.0.0.16
ECHO_CONNS=50
HTTP_CONNS=64
CHURN_CONNS=64
PROXY_BIG=1048576                       # 8a: bytes per answer
PROXY_BIG_CONNS=16
PROXY_SMALL=64                          # 8b: bytes per answer
PROXY_SMALL_CONNS=50
PROXY_DEPTH=16                          # 8b: requests in flight per connection
PROXY_MAXC=4096                         # connection limit of each proxy
ARENA_CONNS=${BENCH_ARENA_CONNS:-128}
CHURN_REQS=10                           # 3: requests per connection before its RST
RSS_BYTES=${BENCH_RSS_BYTES:-1073741824} # 12: echo traffic before RSS is read
RSS_CONNS=64
RSS_SIZE=65536                          # 12: bytes per echo message
ZBIN=./zerg                             # the zerg that srv_start runs
ZX=                                     # extra reactor keys of zerg_conf

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# ---- tools -----------------------------------------------------------------

find_nginx() {
    command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }
}
find_haproxy() {
    command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }
}
# nginx's stream module: "static" when built in, else the path of the
# dynamic module (Debian: libnginx-mod-stream), else nothing.
find_stream() {
    ngx=$(find_nginx)
    [ -n "$ngx" ] || return 0
    if "$ngx" -V 2>&1 | tr ' ' '\n' | grep -qx -- --with-stream; then
        echo static
        return 0
    fi
    for d in /usr/lib/nginx/modules /usr/lib64/nginx/modules /usr/share/nginx/modules; do
        [ -f "$d/ngx_stream_module.so" ] && { echo "$d/ngx_stream_module.so"; return 0; }
    done
}

missing=
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
[ -n "$(find_nginx)" ] || missing="$missing nginx"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot"
if want proxy; then
    [ -n "$(find_haproxy)" ] || missing="$missing haproxy"
    [ -n "$(find_stream)" ] || missing="$missing nginx-stream"
fi
for t in taskset ss curl; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (util-linux, iproute2, curl)"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        pkgs=
        for t in $missing; do
            case $t in
            nginx) t=nginx-light ;;
            gnuplot) t=gnuplot-nox ;;
            nginx-stream) t=libnginx-mod-stream ;;
            esac
            pkgs="$pkgs $t"
        done
        say "bench: installing$pkgs"
        # shellcheck disable=SC2086 # a list of package names
        DEBIAN_FRONTEND=noninteractive apt-get install -y $pkgs >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y $pkgs >&2; }
    elif [ "$(id -u)" = 0 ] && command -v dnf >/dev/null 2>&1; then
        pkgs=$(echo "$missing" | sed 's/nginx-stream/nginx-mod-stream/')
        say "bench: installing$pkgs"
        # shellcheck disable=SC2086
        dnf install -y $pkgs >&2
    else
        say "bench: missing:$missing; install them with your package manager" \
            "(Debian: apt-get install nginx-light wrk gnuplot-nox haproxy libnginx-mod-stream)"
    fi
fi
command -v wrk >/dev/null 2>&1 || die "wrk is required"
NGINX=$(find_nginx)
[ -n "$NGINX" ] || die "nginx is required"
HAVE_GNUPLOT=0
command -v gnuplot >/dev/null 2>&1 && HAVE_GNUPLOT=1
HAPROXY=$(find_haproxy)
NGX_STREAM=$(find_stream)
if want proxy; then
    [ -n "$HAPROXY" ] || say "bench: no haproxy: its TCP proxy figures are skipped"
    [ -n "$NGX_STREAM" ] || say "bench: no nginx stream module (libnginx-mod-stream): its TCP proxy figures are skipped"
fi

# ---- scratch space, cleanup -------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zerg-bench.XXXXXX") || die "mktemp failed"
PIDS=           # processes started here and not yet reaped
BPID=           # section 8's backend, while it runs
track() { PIDS="$PIDS $1"; }
untrack() { PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' '); }
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
DATA=$TMP/data.tsv
: >"$DATA"
NOTES=$TMP/notes
: >"$NOTES"

# ---- build -------------------------------------------------------------------

if [ ! -f Makefile ]; then
    ./configure >&2 || die "./configure failed"
fi
make -s zerg plugins/echo/echo.so $B/raw $B/loadgen $B/backend >&2 || die "build failed"
HAVE_ARENA=0
if [ -d plugins/http/handlers/arena ] &&
    make -s plugins/http/http.so plugins/http/handlers/arena/arena.so >&2; then
    HAVE_ARENA=1
fi
HAVE_HTTP=0
if [ -d plugins/http ] && make -s plugins/http/http.so >&2; then
    printf '{"listeners":[{"name":"t","listen":"127.0.0.1:0","plugin":"http"}]}\n' \
        >"$TMP/http-test.json"
    if ./zerg -t -c "$TMP/http-test.json" >"$TMP/http-test.out" 2>&1; then
        HAVE_HTTP=1
    else
        say "bench: the http plugin does not load:"
        sed 's/^/    /' "$TMP/http-test.out" >&2
    fi
fi
[ $HAVE_HTTP = 1 ] || say "bench: no working plugins/http/http.so: zerg HTTP figures are skipped"
# zerg's proxy plugin (section 8) may not exist yet: skip it until it does.
HAVE_PROXY=0
PROXY_SKIP=
if want proxy; then
    if [ ! -d plugins/proxy ]; then
        PROXY_SKIP="no plugins/proxy in this tree"
    elif ! make -s plugins/proxy/proxy.so >&2; then
        PROXY_SKIP="plugins/proxy/proxy.so does not build"
    else
        printf '{"listeners":[{"name":"t","listen":"127.0.0.1:0","plugin":"proxy","config":{"upstreams":[{"address":"127.0.0.1:9"}]}}]}\n' \
            >"$TMP/proxy-test.json"
        if ./zerg -t -c "$TMP/proxy-test.json" >"$TMP/proxy-test.out" 2>&1; then
            HAVE_PROXY=1
        else
            PROXY_SKIP="plugins/proxy/proxy.so does not load"
            sed 's/^/    /' "$TMP/proxy-test.out" >&2
        fi
    fi
    [ $HAVE_PROXY = 1 ] || say "bench: $PROXY_SKIP: zerg's TCP proxy figures are skipped (nginx and HAProxy still run)"
fi
# BASELINE: an earlier zerg from this repository's history, built from a
# git archive in the run's temporary directory (removed at exit). Its
# plugins are found next to its binary (zerg looks in <exe dir>/plugins).
BASE_DIR=
BASE_REV=
if [ -n "${BASELINE:-}" ]; then
    BASE_REV=$(git rev-parse --verify --quiet "$BASELINE^{commit}") ||
        die "BASELINE=$BASELINE: not a commit of this repository"
    BASE_REV=$(git rev-parse --short "$BASE_REV")
    BASE_DIR=$TMP/baseline
    mkdir -p "$BASE_DIR" || die "mkdir $BASE_DIR failed"
    say "bench: building the baseline, zerg $BASE_REV, in $BASE_DIR"
    git archive --format=tar "$BASE_REV" >"$TMP/baseline.tar" ||
        die "git archive $BASE_REV failed"
    tar -xf "$TMP/baseline.tar" -C "$BASE_DIR" || die "cannot unpack the baseline"
    rm -f "$TMP/baseline.tar"
    if ! (cd "$BASE_DIR" && ./configure && make -s -j"$(nproc)" zerg \
        plugins/echo/echo.so plugins/http/http.so) >"$TMP/baseline.log" 2>&1; then
        tail -n 20 "$TMP/baseline.log" >&2
        die "the baseline ($BASE_REV) does not build"
    fi
    if [ $HAVE_HTTP = 1 ] && ! "$BASE_DIR/zerg" -t -c "$TMP/http-test.json" >"$TMP/http-test.out" 2>&1; then
        die "the baseline's http plugin does not load: $(cat "$TMP/http-test.out")"
    fi
fi
# The zergs of a round: the current one, and the baseline if there is
# one, in an order that alternates between rounds so that drift favours
# neither (rep: the round).
zergs() {
    if [ -z "$BASE_DIR" ]; then
        echo zerg
    elif [ $((rep % 2)) = 1 ]; then
        echo "zerg base"
    else
        echo "base zerg"
    fi
}
# start_as zerg|base kind: srv_start with the current zerg or the
# baseline's.
start_as() {
    ZBIN=./zerg
    [ "$1" = base ] && ZBIN=$BASE_DIR/zerg
    srv_start "$2"
    r=$?
    ZBIN=./zerg
    return $r
}

# Idle connections go to the HTTP listener of each server.
IDLE_PLUGIN="echo"
[ $HAVE_HTTP = 1 ] && IDLE_PLUGIN=http

# ---- limits -------------------------------------------------------------------

# 10 000 connections on each side need more descriptors than the default.
# shellcheck disable=SC3045 # ulimit -n: dash, bash and busybox all have it
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
# shellcheck disable=SC3045
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((BIG + 200)) ]; then
    BIG=$((NOFILE - 200))
    say "bench: RLIMIT_NOFILE is $NOFILE: using $BIG connections instead of 10000"
fi
MAXC=$((BIG + 1024))    # connection limit of the servers under test
SMALL=128               # ... and of the small ones the memory test compares
NGX_NOFILE=$((MAXC * 2))
[ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $NGX_NOFILE ] && NGX_NOFILE=$NOFILE
HZ=$(getconf CLK_TCK)


# ---- servers -----------------------------------------------------------------

# Is process $1 gone (or a zombie)?
gone() {
    [ ! -r "/proc/$1/stat" ] && return 0
    [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]
}

# Stop the server SPID: SIGTERM, then SIGKILL after 5 s.
srv_stop() {
    kill -TERM "$SPID" 2>/dev/null
    i=0
    while ! gone "$SPID" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    gone "$SPID" || kill -KILL "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    untrack "$SPID"
    SPID=
}

# A port below the ephemeral range (where connect() picks client ports)
# that no socket uses.
free_port() {
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    p=$((low - 12000 + $$ % 10000))
    while ss -Htan "sport = :$p" | grep -q .; do p=$((p + 1)); done
    echo "$p"
}

zerg_conf() { # reactors plugin max_connections [accept mode [modules [plugin config]]]
    mods=
    [ -n "${5:-}" ] && mods=", \"modules\": $5"
    [ -n "${6:-}" ] && mods="$mods, \"config\": $6"
    cat <<EOF
{
  "reactors": $1,
  "accept": "${4:-auto}",
  "reactor": { "cpu_affinity": $SRV_CPU, "max_connections": $3$ZX },
  "log": { "level": "warn" },
  "listeners": [ { "name": "bench", "listen": "127.0.0.1:0", "plugin": "$2",
                   "backlog": 65535, "max_connections": $3$mods } ]
}
EOF
}

# Section 12: the echo plugin with zerg's defaults (buffers,
# max_connections), REACTORS reactors pinned to the server's CPU.
zerg_rss_conf() { # reactors
    cat <<EOF
{
  "reactors": $1,
  "reactor": { "cpu_affinity": $SRV_CPU },
  "log": { "level": "warn" },
  "listeners": [ { "name": "bench", "listen": "127.0.0.1:0", "plugin": "echo", "backlog": 65535 } ]
}
EOF
}

# Section 9, HttpArena's endpoints: the arena handler, or the same paths
# as static routes (a fixed answer, like nginx's return 200).
zerg_arena_conf() { # arena|static
    if [ "$1" = arena ]; then
        routes='{ "path": "/baseline11", "handler": "arena" },
                   { "path": "/pipeline", "handler": "arena" }'
    else
        routes='{ "path": "/baseline11", "body": "3", "methods": ["GET", "POST"] },
                   { "path": "/pipeline", "body": "ok" }'
    fi
    cat <<EOF
{
  "reactors": 1,
  "reactor": { "cpu_affinity": $SRV_CPU, "max_connections": $MAXC },
  "log": { "level": "warn" },
  "listeners": [ { "name": "bench", "listen": "127.0.0.1:0", "plugin": "http",
                   "backlog": 65535, "max_connections": $MAXC,
                   "config": { "routes": [ $routes ] } } ]
}
EOF
}

# The three built-in modules with rules that let every client in (the
# churn load generator sends a PROXY header with -x).
ALL_MODULES='[ { "module": "proxy_protocol", "config": { "trusted": ["127.0.0.0/8"] } },
               { "module": "access", "config": { "rules": [ { "deny": "192.0.2.1" }, { "allow": "all" } ] } },
               { "module": "limit_conn", "config": { "per_address": 1000000 } } ]'
# The admit-phase modules with rules that let every client in.
PERMISSIVE_MODULES='[ { "module": "access", "config": { "rules": [ { "deny": "192.0.2.1" }, { "allow": "127.0.0.0/8" } ] } },
                      { "module": "limit_conn", "config": { "per_address": 1000000 } } ]'


# The embedded default configuration (zerg -h), on free ports.
zerg_default_conf() {
    if [ $HAVE_HTTP = 1 ]; then
        http=',
    { "name": "http", "listen": "127.0.0.1:0", "plugin": "http" }'
    else
        http=
    fi
    cat <<EOF
{
  "reactors": 1,
  "log": { "level": "info" },
  "listeners": [
    { "name": "bench", "listen": "127.0.0.1:0", "plugin": "echo" }$http
  ]
}
EOF
}

# Section 10: the access logs, files of the run's directory. zerg's http
# plugin with its defaults (64 KiB buffered per reactor, written at least
# every second); nginx with the same line (the combined format, the
# request time appended).
ZERG_ALOG=$TMP/zerg-access.log
NGINX_ALOG=$TMP/nginx-access.log
# shellcheck disable=SC2016 # nginx's variables, not the shell's
NGX_LOG_FORMAT='log_format zerg '"'"'$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'"'"';'

nginx_conf() { # dir port worker_connections [access_log directive]
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile $NGX_NOFILE;
events { worker_connections $3; }
http {
    $NGX_LOG_FORMAT
    ${4:-access_log off;}
    server_tokens off;
    keepalive_requests 100000000;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    server {
        listen 127.0.0.1:$2 backlog=65535;
        location /plaintext { default_type text/plain; return 200 "Hello, World!"; }
        location /baseline11 { default_type text/plain; return 200 "3"; }
        location /pipeline { default_type text/plain; return 200 "ok"; }
    }
}
EOF
}

# Section 8: the three TCP proxies, one worker or thread each, forwarding
# to the backend on 127.0.0.1:BPORT.
zerg_proxy_conf() {
    cat <<EOF
{
  "reactors": 1,
  "reactor": { "cpu_affinity": $SRV_CPU, "max_connections": $PROXY_MAXC },
  "log": { "level": "warn" },
  "listeners": [ { "name": "bench", "listen": "127.0.0.1:0", "plugin": "proxy",
                   "backlog": 65535, "max_connections": $PROXY_MAXC,
                   "config": { "upstreams": [ { "address": "127.0.0.1:$BPORT" } ] } } ]
}
EOF
}

nginx_stream_conf() { # dir port
    [ "$NGX_STREAM" = static ] || echo "load_module $NGX_STREAM;"
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile $NGX_NOFILE;
events { worker_connections $PROXY_MAXC; }
stream {
    server {
        listen 127.0.0.1:$2 backlog=65535;
        proxy_pass 127.0.0.1:$BPORT;
    }
}
EOF
}

haproxy_conf() { # port
    cat <<EOF
global
    nbthread 1
    maxconn $PROXY_MAXC
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:$1 backlog 65535
    default_backend backend
backend backend
    server b1 127.0.0.1:$BPORT
EOF
}

# Start a server of kind $1 pinned to SRV_CPU; sets SPID and SPORT.
srv_start() {
    kind=$1 out=$TMP/server.out
    : >"$out"
    SPORT=
    case $kind in
    zerg-*)
        case $kind in
        zerg-http) zerg_conf 1 http $MAXC >"$TMP/zerg.json" ;;
        zerg-http2) zerg_conf 2 http $MAXC >"$TMP/zerg.json" ;;
        zerg-http2rp) zerg_conf 2 http $MAXC reuseport >"$TMP/zerg.json" ;;
        zerg-http-rp) zerg_conf 1 http $MAXC acceptor >"$TMP/zerg.json" ;;
        zerg-http-mods) zerg_conf 1 http $MAXC auto "$PERMISSIVE_MODULES" >"$TMP/zerg.json" ;;
        zerg-http-mods3) zerg_conf 1 http $MAXC auto "$ALL_MODULES" >"$TMP/zerg.json" ;;
        zerg-echo) zerg_conf 1 echo $MAXC >"$TMP/zerg.json" ;;
        zerg-rss1) zerg_rss_conf 1 >"$TMP/zerg.json" ;;
        zerg-rss2) zerg_rss_conf 2 >"$TMP/zerg.json" ;;
        zerg-idle) zerg_conf 1 "$IDLE_PLUGIN" $MAXC >"$TMP/zerg.json" ;;
        zerg-small) zerg_conf 1 "$IDLE_PLUGIN" $SMALL >"$TMP/zerg.json" ;;
        zerg-default) zerg_default_conf >"$TMP/zerg.json" ;;
        zerg-proxy) zerg_proxy_conf >"$TMP/zerg.json" ;;
        zerg-arena) zerg_arena_conf arena >"$TMP/zerg.json" ;;
        zerg-astatic) zerg_arena_conf static >"$TMP/zerg.json" ;;
        zerg-http-alog)
            zerg_conf 1 http $MAXC auto "" "{ \"access_log\": { \"path\": \"$ZERG_ALOG\" } }" \
                >"$TMP/zerg.json"
            ;;
        zerg-http-clog)
            zerg_conf 1 http $MAXC auto "[ { \"module\": \"access_log\", \"config\": { \"path\": \"$ZERG_ALOG\" } } ]" \
                >"$TMP/zerg.json"
            ;;
        esac
        taskset -c "$SRV_CPU" "$ZBIN" -c "$TMP/zerg.json" >"$out" 2>"$out.err" &
        ;;
    nginx-stream)
        rm -rf "$TMP/nginx"
        mkdir -p "$TMP/nginx"
        SPORT=$(free_port)
        nginx_stream_conf "$TMP/nginx" "$SPORT" >"$TMP/nginx/nginx.conf"
        taskset -c "$SRV_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
            -e "$TMP/nginx/error.log" >"$out" 2>"$out.err" &
        ;;
    haproxy)
        SPORT=$(free_port)
        haproxy_conf "$SPORT" >"$TMP/haproxy.cfg"
        taskset -c "$SRV_CPU" "$HAPROXY" -db -f "$TMP/haproxy.cfg" >"$out" 2>"$out.err" &
        ;;
    raw-http | raw-echo)
        taskset -c "$SRV_CPU" $B/raw "${kind#raw-}" 0 >"$out" 2>"$out.err" &
        ;;
    nginx*)
        rm -rf "$TMP/nginx"
        mkdir -p "$TMP/nginx"
        SPORT=$(free_port)
        alog=
        case $kind in
        nginx) n=$MAXC ;;
        nginx-8192) n=8192 ;;
        # buffered as zerg's is (64 KiB, written at least every second),
        # and nginx's default: one write(2) per request
        nginx-alog) n=$MAXC alog="access_log $NGINX_ALOG zerg buffer=64k flush=1s;" ;;
        nginx-alog-nobuf) n=$MAXC alog="access_log $NGINX_ALOG zerg;" ;;
        *) n=$SMALL ;;
        esac
        nginx_conf "$TMP/nginx" "$SPORT" "$n" "$alog" >"$TMP/nginx/nginx.conf"
        taskset -c "$SRV_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
            -e "$TMP/nginx/error.log" >"$out" 2>"$out.err" &
        ;;
    esac
    SPID=$!
    track "$SPID"
    i=0
    while [ $i -lt 100 ]; do
        if [ "${kind%%-*}" = nginx ] || [ "$kind" = haproxy ]; then
            ss -Hltn "sport = :$SPORT" | grep -q . && return 0
        else
            SPORT=$(sed -n 's/^listening bench .*:\([0-9][0-9]*\)$/\1/p;s/^listening raw .*:\([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
            [ -n "$SPORT" ] && return 0
        fi
        gone "$SPID" && break
        sleep 0.1
        i=$((i + 1))
    done
    say "bench: $kind did not start:"
    sed 's/^/    /' "$out.err" "$TMP/nginx/error.log" 2>/dev/null | tail -n 5 >&2
    srv_stop
    return 1
}

# ---- measurements ------------------------------------------------------------

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$DATA"; }
# rec_run scen server count secs ticks p50 p99 errors: the common figures
rec_run() {
    rec "$1" "$2" rps "$(awk -v n="$3" -v s="$4" 'BEGIN { printf "%.0f", n / s }')"
    rec "$1" "$2" cpu_m "$(awk -v t="$5" -v n="$3" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.3f", t / hz / n * 1e6 }')"
    rec "$1" "$2" util "$(awk -v t="$5" -v s="$4" -v hz="$HZ" 'BEGIN { printf "%.0f", t / hz / s * 100 }')"
    rec "$1" "$2" p50 "$6"
    rec "$1" "$2" p99 "$7"
    rec "$1" "$2" err "$8"
    rec "$1" "$2" noise "$NOISE"
    [ "${8:-0}" = 0 ] || echo "$1 $2: $8 errors in one run" >>"$NOTES"
}

# "busy total" ticks of one CPU from /proc/stat.
cpu_stat() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
# CPU ticks of this shell's waited-for children, from a saved `times`.
child_ticks() {
    awk -v hz="$HZ" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } }
        END { printf "%.0f", n * hz }' "$1"
}

# run_measured CMD...: run the load generator CMD in this shell (output in
# $TMP/load.out) and set T_SRV, the server's CPU ticks meanwhile, T_CLI,
# the load generator's and (section 8) the backend's, and NOISE, the
# largest share (%) of the server's or the load generator's CPU that other
# processes took: the machine is shared, and a noisy run is worth
# repeating.
run_measured() {
    times >"$TMP/times0"
    s0=$(cpu_stat "$SRV_CPU")
    c0=$(cpu_stat "$CLI_CPU")
    b0=0
    [ -n "$BPID" ] && b0=$(cpu_ticks "$BPID")
    t0=$(cpu_ticks "$SPID")
    "$@" >"$TMP/load.out" 2>&1
    t1=$(cpu_ticks "$SPID")
    b1=0
    [ -n "$BPID" ] && b1=$(cpu_ticks "$BPID")
    s1=$(cpu_stat "$SRV_CPU")
    c1=$(cpu_stat "$CLI_CPU")
    times >"$TMP/times1"
    T_SRV=$((t1 - t0))
    T_CLI=$(($(child_ticks "$TMP/times1") - $(child_ticks "$TMP/times0") + b1 - b0))
    NOISE=$(awk -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v srv="$T_SRV" \
        -v cli="$T_CLI" '
        function share(a, b, own,   x, y, f) {
            split(a, x, " "); split(b, y, " ")
            if (y[2] - x[2] <= 0) return 0
            f = (y[1] - x[1] - own) / (y[2] - x[2])
            return f > 0 ? f : 0
        }
        BEGIN {
            f = share(s0, s1, srv); g = share(c0, c1, cli)
            printf "%.0f", (f > g ? f : g) * 100
        }')
}

# Retry a run once when other processes took more than this share (%).
NOISY=20

# Wait (at most 60 s) until the two CPUs are idle for a second: nothing of
# ours runs now, so whatever runs belongs to someone else.
wait_quiet() {
    i=0
    while [ $i -lt 60 ]; do
        s0=$(cpu_stat "$SRV_CPU")
        c0=$(cpu_stat "$CLI_CPU")
        sleep 1
        s1=$(cpu_stat "$SRV_CPU")
        c1=$(cpu_stat "$CLI_CPU")
        awk -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" '
            function busy(a, b,   x, y) { split(a, x, " "); split(b, y, " "); return y[2] > x[2] ? (y[1] - x[1]) / (y[2] - x[2]) : 0 }
            BEGIN { exit !(busy(s0, s1) < 0.1 && busy(c0, c1) < 0.1) }' && return 0
        [ $i = 0 ] && say "  waiting for other processes to leave CPUs $SRV_CPU and $CLI_CPU (up to 60 s)"
        i=$((i + 1))
    done
    return 1
}

# wrk against SPID: wrk_run scen server conns depth
wrk_run() {
    url=http://127.0.0.1:$SPORT/plaintext
    attempt=1
    while :; do
        env WRK_PIPELINE="$4" taskset -c "$CLI_CPU" wrk -t1 -c"$3" -d"${WARM}s" \
            --timeout 10s -s $B/pipeline.lua "$url" >/dev/null 2>&1
        run_measured env WRK_PIPELINE="$4" taskset -c "$CLI_CPU" wrk -t1 -c"$3" \
            -d"${DUR}s" --timeout 10s -s $B/pipeline.lua "$url"
        line=$(grep '^wrk ' "$TMP/load.out")
        if [ "$NOISE" -le $NOISY ] || [ $attempt = 2 ]; then break; fi
        say "  $1 $2: other processes took $NOISE% of a CPU: once more"
        attempt=2
        wait_quiet
    done
    n=$(kv requests "$line")
    if [ -z "$n" ]; then
        echo "$1 $2: wrk gave no result" >>"$NOTES"
        return 1
    fi
    secs=$(awk -v u="$(kv duration_us "$line")" 'BEGIN { print u / 1e6 }')
    rec_run "$1" "$2" "$n" "$secs" "$T_SRV" "$(kv p50_us "$line")" \
        "$(kv p99_us "$line")" $(($(kv errors "$line") + $(kv non2xx "$line")))
    say "  $1 $2: $(kv rps "$line") req/s (noise $NOISE%)"
}

# loadgen against SPID: lg_run scen server mode args...
lg_run() {
    scen=$1 server=$2 mode=$3
    shift 3
    attempt=1
    while :; do
        taskset -c "$CLI_CPU" $B/loadgen "$mode" -p "$SPORT" -d "$WARM" "$@" >/dev/null 2>&1
        run_measured taskset -c "$CLI_CPU" $B/loadgen "$mode" -p "$SPORT" -d "$DUR" "$@"
        line=$(grep '^mode=' "$TMP/load.out")
        if [ "$NOISE" -le $NOISY ] || [ $attempt = 2 ]; then break; fi
        say "  $scen $server: other processes took $NOISE% of a CPU: once more"
        attempt=2
        wait_quiet
    done
    case $mode in
    churn) n=$(kv conns_done "$line") ;;
    http) n=$(kv reqs "$line") ;;
    *) n=$(kv msgs "$line") ;;
    esac
    if [ -z "$n" ]; then
        echo "$scen $server: loadgen gave no result" >>"$NOTES"
        return 1
    fi
    rec_run "$scen" "$server" "$n" "$(kv secs "$line")" "$T_SRV" \
        "$(kv p50_us "$line")" "$(kv p99_us "$line")" \
        $(($(kv errors "$line") + $(kv bad "$line")))
    [ "$mode" = echo ] && rec "$scen" "$server" mbs "$(kv mb_per_s "$line")"
    if [ "$mode" = get ]; then
        secs=$(kv secs "$line")
        mib=$(kv mib_per_s "$line")
        rec "$scen" "$server" mibs "$mib"
        # proxy CPU seconds per GiB of answers
        rec "$scen" "$server" cpu_g "$(awk -v t="$T_SRV" -v hz="$HZ" -v m="$mib" -v s="$secs" \
            'BEGIN { if (m > 0) printf "%.3f", t / hz / (m * s / 1024) }')"
        rec "$scen" "$server" cli_util "$(awk -v t="$T_CLI" -v s="$secs" -v hz="$HZ" 'BEGIN { printf "%.0f", t / hz / s * 100 }')"
        say "  $scen $server: $(kv msgs_per_s "$line") answers/s, $mib MiB/s, proxy CPU $(awk -v t="$T_SRV" -v s="$secs" -v hz="$HZ" 'BEGIN { printf "%.0f", t / hz / s * 100 }')% (noise $NOISE%)"
        return 0
    fi
    say "  $scen $server: $(kv msgs_per_s "$line")$(kv conns_per_s "$line")$(kv rps "$line") /s (noise $NOISE%)"
}

# Section 8's backend (tests/bench/backend.c), pinned to the load
# generator's CPU; sets BPID and BPORT.
backend_start() {
    : >"$TMP/backend.out"
    BPORT=
    taskset -c "$CLI_CPU" $B/backend 0 >"$TMP/backend.out" 2>"$TMP/backend.err" &
    BPID=$!
    track "$BPID"
    i=0
    while [ $i -lt 50 ]; do
        BPORT=$(sed -n 's/^listening backend .*:\([0-9][0-9]*\)$/\1/p' "$TMP/backend.out")
        [ -n "$BPORT" ] && return 0
        gone "$BPID" && break
        sleep 0.1
        i=$((i + 1))
    done
    say "bench: the backend did not start:"
    sed 's/^/    /' "$TMP/backend.err" >&2
    backend_stop
    return 1
}

backend_stop() {
    kill -TERM "$BPID" 2>/dev/null
    wait "$BPID" 2>/dev/null
    untrack "$BPID"
    BPID=
}

# Section 8, one round: each shape through each proxy, the proxies in a
# different order every round so that drift does not favour one.
proxy_round() { # round
    backend_start || return 1
    case $(($1 % 3)) in
    1) order="zerg nginx haproxy" ;;
    2) order="nginx haproxy zerg" ;;
    *) order="haproxy zerg nginx" ;;
    esac
    for shape in big small; do
        for px in $order; do
            case $px in
            zerg) [ $HAVE_PROXY = 1 ] || continue; kind=zerg-proxy ;;
            nginx) [ -n "$NGX_STREAM" ] || continue; kind=nginx-stream ;;
            haproxy) [ -n "$HAPROXY" ] || continue; kind=haproxy ;;
            esac
            srv_start "$kind" || continue
            if [ $shape = big ]; then
                lg_run proxybig "$px" get -c $PROXY_BIG_CONNS -s $PROXY_BIG
            else
                lg_run proxysmall "$px" get -c $PROXY_SMALL_CONNS -s $PROXY_SMALL -P $PROXY_DEPTH
            fi
            srv_stop
        done
    done
    backend_stop
}

# Memory of server $1 (zerg or nginx). RSS at start: zerg with its default
# configuration, nginx with worker_connections equal to zerg's default
# max_connections (8192). Per idle connection: both servers preallocate
# and touch a slab of connection slots at start, so the cost of a
# connection is the RSS growth while BIG idle connections are open plus
# the resident cost of one slot, measured as the RSS difference between a
# server sized for MAXC connections and one sized for SMALL.
mem_run() { # zerg|base|nginx
    case $1 in
    nginx) k_start=nginx-8192 k_small=nginx-small k_big=nginx ;;
    *) k_start=zerg-default k_small=zerg-small k_big=zerg-idle ;;
    esac
    start_as "$1" "$k_start" || return 1
    sleep 1
    rec memstart "$1" rss "$(rss_kb "$SPID")"
    srv_stop
    start_as "$1" "$k_small" || return 1
    sleep 1
    rs=$(rss_kb "$SPID")
    srv_stop
    start_as "$1" "$k_big" || return 1
    sleep 1
    r0=$(rss_kb "$SPID")
    taskset -c "$CLI_CPU" $B/loadgen idle -p "$SPORT" -n "$BIG" -a $NADDRS -d 120 \
        >"$TMP/idle.out" 2>&1 &
    lpid=$!
    track "$lpid"
    i=0
    while ! grep -q '^ready' "$TMP/idle.out" && [ $i -lt 600 ]; do
        gone "$lpid" && break
        sleep 0.1
        i=$((i + 1))
    done
    # All connected; wait for the server to have accepted them all (the
    # listener's Recv-Q is its accept queue), then let it settle.
    i=0
    while [ $i -lt 100 ]; do
        q=$(ss -Hltn "sport = :$SPORT" | awk '{ print $2; exit }')
        [ "${q:-0}" = 0 ] && break
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
    r1=$(rss_kb "$SPID")
    held=$(ss -Htn state established "sport = :$SPORT" | wc -l)
    opened=$(sed -n 's/^ready //p' "$TMP/idle.out")
    kill -TERM "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
    untrack "$lpid"
    srv_stop
    if [ "${opened:-0}" -gt 0 ]; then
        growth=$(awk -v a="$r0" -v b="$r1" -v n="$opened" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
        slot=$(awk -v a="$rs" -v b="$r0" -v n=$((MAXC - SMALL)) 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
        rec idle "$1" growth "$growth"
        rec idle "$1" slot "$slot"
        rec idle "$1" per_conn $((growth + slot))
        rec idle "$1" held "$held"
        say "  idle $1: $opened connections; RSS $rs kB ($SMALL slots), $r0 kB ($MAXC slots), $r1 kB (+$opened conns)"
    fi
    [ "${opened:-0}" = "$BIG" ] || echo "idle $1: only ${opened:-0} of $BIG connections opened" >>"$NOTES"
}

# Section 10, one run: alog_run scen server kind depth [log file [conn]].
# The log must then hold a line for every request measured (and the
# warm-up's), or with conn (a per-connection log) for every connection;
# it is removed after each run. Depth 0: churn, a connection per request.
alog_run() {
    [ -n "${5:-}" ] && rm -f "$5"
    srv_start "$3" || return 1
    n=
    if [ "$4" = 0 ]; then
        lg_run "$1" "$2" churn -c $CHURN_CONNS -a $NADDRS
    else
        wrk_run "$1" "$2" $HTTP_CONNS "$4"
        [ -n "${6:-}" ] && n=$HTTP_CONNS
    fi
    srv_stop
    if [ -n "${5:-}" ]; then
        lines=0
        [ -f "$5" ] && lines=$(wc -l <"$5")
        rec "$1" "$2" lines "$lines"
        [ "$lines" -ge "${n:-0}" ] ||
            echo "$1 $2: $lines access log lines for ${n:-0} ${6:-request}s" >>"$NOTES"
        rm -f "$5"
    fi
}

# Section 11, one round: each receive mode against each shape, the modes
# in a different order every round.
bundles_round() { # round
    case $(($1 % 3)) in
    1) order="bundle inc whole" ;;
    2) order="inc whole bundle" ;;
    *) order="whole bundle inc" ;;
    esac
    for shape in big 4k pipe; do
        for mode in $order; do
            case $mode in
            bundle) ZX=', "recv_bundle": true' ;;
            inc) ZX=', "recv_bundle": false, "incremental_buffers": true' ;;
            *) ZX=', "recv_bundle": false, "incremental_buffers": false' ;;
            esac
            case $shape in
            big) if srv_start zerg-echo; then lg_run bundbig "$mode" echo -c 16 -s 65536 -P 4; srv_stop; fi ;;
            4k) if srv_start zerg-echo; then lg_run bund4k "$mode" echo -c $ECHO_CONNS -s 4096 -P 16; srv_stop; fi ;;
            *) if [ $HAVE_HTTP = 1 ] && srv_start zerg-http; then wrk_run bundpipe "$mode" $HTTP_CONNS 16; srv_stop; fi ;;
            esac
            ZX=
        done
    done
}

# Section 12, one run: rss_run zerg|base reactors. RSS before, half a
# second after RSS_BYTES of echo traffic through RSS_CONNS connections (no
# warm-up: the traffic is what is measured) and 3 s after (a reactor
# shrinks its buffer window after each quiet second and gives the memory
# back), and what the traffic cost.
rss_run() {
    v=$1
    [ "$2" = 2 ] && v=${1}2
    start_as "$1" "zerg-rss$2" || return 1
    sleep 0.5
    r0=$(rss_kb "$SPID")
    run_measured taskset -c "$CLI_CPU" $B/loadgen echo -p "$SPORT" -c $RSS_CONNS \
        -s $RSS_SIZE -P 4 -b "$RSS_BYTES" -d 120
    sleep 0.5
    r1=$(rss_kb "$SPID")
    sleep 2.5
    r2=$(rss_kb "$SPID")
    srv_stop
    line=$(grep '^mode=' "$TMP/load.out")
    bytes=$(kv bytes "$line")
    secs=$(kv secs "$line")
    if [ "${bytes:-0}" -lt "$RSS_BYTES" ] || [ "$(kv errors "$line")" != 0 ] || [ "$(kv bad "$line")" != 0 ]; then
        echo "rss $v: only ${bytes:-0} of $RSS_BYTES bytes echoed ($(kv errors "$line") errors, $(kv bad "$line") bad)" >>"$NOTES"
        return 1
    fi
    rec rss "$v" start "$r0"
    rec rss "$v" after "$r1"
    rec rss "$v" settled "$r2"
    rec rss "$v" mbs "$(kv mb_per_s "$line")"
    rec rss "$v" cpu_g "$(awk -v t="$T_SRV" -v hz="$HZ" -v b="$bytes" 'BEGIN { printf "%.3f", t / hz / (b / 1073741824) }')"
    rec rss "$v" util "$(awk -v t="$T_SRV" -v s="$secs" -v hz="$HZ" 'BEGIN { printf "%.0f", t / hz / s * 100 }')"
    rec rss "$v" noise "$NOISE"
    say "  rss $v: $r0 kB at start, $r1 kB after $bytes bytes echoed in ${secs}s, $r2 kB 3 s later (noise $NOISE%)"
}

http_case() { # scen conns depth
    for z in $(zergs); do
        if [ $HAVE_HTTP = 1 ] && start_as "$z" zerg-http; then wrk_run "$1" "$z" "$2" "$3"; srv_stop; fi
    done
    if srv_start nginx; then wrk_run "$1" nginx "$2" "$3"; srv_stop; fi
    if srv_start raw-http; then wrk_run "$1" raw "$2" "$3"; srv_stop; fi
}

# ---- preflight: the raw baseline must send zerg's bytes ----------------------

plaintext() { curl -s -i --max-time 5 "http://127.0.0.1:$SPORT/plaintext" | grep -v '^Date: '; }
if [ $HAVE_HTTP = 1 ] && srv_start zerg-http; then
    plaintext >"$TMP/zerg.resp"
    srv_stop
    if srv_start raw-http; then
        plaintext >"$TMP/raw.resp"
        srv_stop
        cmp -s "$TMP/zerg.resp" "$TMP/raw.resp" || {
            say "bench: WARNING: raw's /plaintext response differs from zerg's (Date aside):"
            diff "$TMP/zerg.resp" "$TMP/raw.resp" | sed 's/^/    /' >&2
            echo "raw's response differs from zerg's; update rb_resp in raw.c" >>"$NOTES"
        }
    fi
fi

# ---- the runs ------------------------------------------------------------------

bench_t0=$(date +%s)
rep=1
while [ $rep -le "$RUNS" ]; do
    say "bench: run $rep of $RUNS"
    wait_quiet
    want keepalive && http_case ka64 $HTTP_CONNS 1
    want pipeline && http_case pipe16 $HTTP_CONNS 16
    if want churn; then
        if [ $HAVE_HTTP = 1 ]; then
            if srv_start zerg-http; then lg_run churn zerg churn -c $CHURN_CONNS -a $NADDRS; srv_stop; fi
            if srv_start zerg-http2; then lg_run churn zerg2 churn -c $CHURN_CONNS -a $NADDRS; srv_stop; fi
            if srv_start zerg-http2rp; then lg_run churn zerg2rp churn -c $CHURN_CONNS -a $NADDRS; srv_stop; fi
            if srv_start zerg-http-rp; then lg_run churn zergrp churn -c $CHURN_CONNS -a $NADDRS; srv_stop; fi
        fi
        if srv_start nginx; then lg_run churn nginx churn -c $CHURN_CONNS -a $NADDRS; srv_stop; fi
        # HttpArena's limited-conn shape on /plaintext: CHURN_REQS
        # keep-alive requests, then an RST (SO_LINGER 0 close).
        for z in $(zergs); do
            if [ $HAVE_HTTP = 1 ] && start_as "$z" zerg-http; then
                lg_run churnrst "$z" http -c $CHURN_CONNS -a $NADDRS -m plaintext -P 1 -r $CHURN_REQS
                srv_stop
            fi
        done
        # Two reactors on the server's CPU: what each accept mode costs
        # (the acceptor's hand-off through MSG_RING, or the kernel's
        # SO_REUSEPORT spread).
        for k in zerg2:zerg-http2 zerg2rp:zerg-http2rp; do
            if [ $HAVE_HTTP = 1 ] && srv_start "${k#*:}"; then
                lg_run churnrst "${k%%:*}" http -c $CHURN_CONNS -a $NADDRS -m plaintext -P 1 -r $CHURN_REQS
                srv_stop
            fi
        done
        if srv_start nginx; then
            lg_run churnrst nginx http -c $CHURN_CONNS -a $NADDRS -m plaintext -P 1 -r $CHURN_REQS
            srv_stop
        fi
    fi
    for size in 64 4096; do
        want echo || break
        if srv_start zerg-echo; then lg_run "echo$size" zerg echo -c $ECHO_CONNS -s "$size"; srv_stop; fi
        if srv_start raw-echo; then lg_run "echo$size" raw echo -c $ECHO_CONNS -s "$size"; srv_stop; fi
    done
    if want memory; then
        mem_run zerg
        [ -n "$BASE_DIR" ] && mem_run base
        mem_run nginx
    fi
    if want scale; then
        http_case scale1000 1000 1
        http_case scalebig "$BIG" 1
    fi
    if want modules && [ $HAVE_HTTP = 1 ]; then
        for k in zerg-http zerg-http-mods; do
            v=zerg
            [ $k = zerg-http-mods ] && v=zergmod
            if srv_start $k; then wrk_run modka "$v" $HTTP_CONNS 1; srv_stop; fi
            if srv_start $k; then wrk_run modpipe "$v" $HTTP_CONNS 16; srv_stop; fi
            if [ $k = zerg-http ]; then
                if srv_start $k; then lg_run modchurn "$v" churn -c $CHURN_CONNS -a $NADDRS; srv_stop; fi
            elif srv_start zerg-http-mods3; then
                lg_run modchurn "$v" churn -c $CHURN_CONNS -a $NADDRS -x
                srv_stop
            fi
        done
    fi
    want proxy && proxy_round "$rep"
    want bundles && bundles_round "$rep"
    if want rss; then
        for n in 1 2; do
            for z in $(zergs); do rss_run "$z" "$n"; done
        done
    fi
    if want arena && [ $HAVE_ARENA = 1 ]; then
        # HttpArena's profiles, one reactor: baseline (GET, POST with
        # Content-Length, POST chunked in turn, one request in flight per
        # connection), pipelined (16 in flight, a sliding window),
        # limited-conn (the baseline mix, reset after every 10 answers).
        # The arena handler's answers are checked; the static routes and
        # nginx answer a fixed body (-k: status only).
        for k in zerg-arena zerg-astatic nginx; do
            case $k in
            zerg-arena) v=zerg chk= ;;
            zerg-astatic) v=zergstatic chk=-k ;;
            *) v=nginx chk=-k ;;
            esac
            # shellcheck disable=SC2086 # chk is empty or one option
            if srv_start $k; then lg_run arenabase "$v" http -c "$ARENA_CONNS" -P 1 -m baseline $chk; srv_stop; fi
            # shellcheck disable=SC2086
            if srv_start $k; then lg_run arenapipe "$v" http -c $HTTP_CONNS -P 16 -m pipeline $chk; srv_stop; fi
            # shellcheck disable=SC2086
            if srv_start $k; then lg_run arenalimit "$v" http -c "$ARENA_CONNS" -P 1 -m baseline -r 10 $chk; srv_stop; fi
        done
    fi
    if want accesslog; then
        # The http plugin's access log, and nginx's, off and on, for
        # keep-alive and pipelined requests; off and on in an order that
        # alternates between rounds, so that drift favours neither.
        case $((rep % 2)) in
        1) states="off on" ;;
        *) states="on off" ;;
        esac
        for shape in alogka alogpipe alogchurn; do
            case $shape in
            alogka) depth=1 ;;
            alogpipe) depth=16 ;;
            *) depth=0 ;;
            esac
            for st in $states; do
                if [ "$st" = off ]; then
                    [ $HAVE_HTTP = 1 ] && alog_run $shape zerg zerg-http $depth
                    alog_run $shape nginx nginx $depth
                else
                    if [ $HAVE_HTTP = 1 ]; then
                        alog_run $shape zergalog zerg-http-alog $depth "$ZERG_ALOG"
                        alog_run $shape zergclog zerg-http-clog $depth "$ZERG_ALOG" connection
                    fi
                    alog_run $shape nginxalog nginx-alog $depth "$NGINX_ALOG"
                    alog_run $shape nginxalognb nginx-alog-nobuf $depth "$NGINX_ALOG"
                fi
            done
        done
    fi
    rep=$((rep + 1))
done
elapsed=$(($(date +%s) - bench_t0))

# ---- medians and the table ---------------------------------------------------

sort -t "$(printf '\t')" -k1,1 -k2,2 -k3,3 -k4,4g "$DATA" | awk -F '\t' '
    function flush() { if (n) printf "%s\t%s\n", key, (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }
    { k = $1 "\t" $2 "\t" $3; if (k != key) { flush(); key = k; n = 0 } if ($4 != "") v[++n] = $4 }
    END { flush() }' >"$TMP/median.tsv"

mode=full
[ "${BENCH_QUICK:-0}" = 1 ] && mode="quick (BENCH_QUICK=1)"
stamp=$(date -u +%Y-%m-%dT%H:%MZ)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
# The awk every table program starts with: the medians in
# m[scenario, server, key], and the helpers the tables share.
AWK_TABLE_LIB=$(cat <<'EOF'
    { m[$1, $2, $3] = $4 }
    function has(s, v, k) { return ((s, v, k) in m) }
    function grp(x,   s, neg) {   # 1234567 -> "1 234 567"
        x = sprintf("%.0f", x); neg = ""
        if (substr(x, 1, 1) == "-") { neg = "-"; x = substr(x, 2) }
        s = ""
        while (length(x) > 3) { s = " " substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
        return neg x s
    }
    function verdict(ok) { return ok ? "PASS" : "**MISS**" }
    function us(s, v, k) { return has(s, v, k) ? sprintf("%.0f us", m[s, v, k]) : "" }
EOF
)

# Sections 1 to 7: one table.
main_table() {
    awk -F '\t' -v big="$BIG" -v naddrs=$NADDRS -v aconns="$ARENA_CONNS" \
        -v base="$BASE_REV" -v creqs=$CHURN_REQS -v cconns=$CHURN_CONNS "$AWK_TABLE_LIB"'
    function ratio(s, v, ref, k) {
        if (!has(s, v, k) || !has(s, ref, k) || m[s, ref, k] == 0) return ""
        return sprintf("%.2fx", m[s, v, k] / m[s, ref, k])
    }
    function cell(s, v, unit) { return has(s, v, "rps") ? grp(m[s, v, "rps"]) " " unit : "n/a" }
    # One throughput row: scenario, server label, id, unit, target text
    function row(title, label, s, v, unit, target,   cpu, util, noise) {
        cpu = has(s, v, "cpu_m") ? sprintf("%.2f", m[s, v, "cpu_m"]) : ""
        util = has(s, v, "util") ? m[s, v, "util"] "%" : ""
        noise = has(s, v, "noise") ? sprintf("%.0f%%", m[s, v, "noise"]) : ""
        if (unit == "msg/s" && has(s, v, "mbs")) unit = unit sprintf(" (%.0f MB/s)", m[s, v, "mbs"])
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", title, label,
            cell(s, v, unit), v == "nginx" ? "" : ratio(s, v, "nginx", "rps"),
            v == "raw" ? "" : ratio(s, v, "raw", "rps"), cpu,
            v == "nginx" ? "" : ratio(s, v, "nginx", "cpu_m"),
            v == "raw" ? "" : ratio(s, v, "raw", "cpu_m"), util, noise,
            us(s, v, "p50"), us(s, v, "p99"), target
    }
    function rt(s, v, ref, k) { return (has(s, v, k) && has(s, ref, k) && m[s, ref, k] > 0) ? m[s, v, k] / m[s, ref, k] : -1 }
    # The baseline row of scenario s (BASELINE only): the current zerg
    # over the baseline, CPU per unit (goal: at most lim, 0: none) and
    # throughput.
    function baserow(s, unit, lim,   t, c) {
        if (!has(s, "base", "rps")) return
        c = rt(s, "zerg", "base", "cpu_m")
        t = c >= 0 ? sprintf("zerg / baseline: CPU %.2fx", c) : ""
        if (c >= 0 && lim > 0) t = t sprintf(" (<= %.2fx: %s)", lim, verdict(c <= lim))
        if (rt(s, "zerg", "base", "rps") >= 0) t = t sprintf(", throughput %.2fx", rt(s, "zerg", "base", "rps"))
        row("", "zerg " base " (baseline)", s, "base", unit, t)
    }
    END {
        print "| scenario | server | throughput | vs nginx | vs raw | CPU s / M | CPU vs nginx | CPU vs raw | server CPU | noise | p50 | p99 | target |"
        print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
        s = "ka64"; t = ""
        if (rt(s, "zerg", "nginx", "cpu_m") >= 0) t = "CPU <= 0.75x nginx: " verdict(rt(s, "zerg", "nginx", "cpu_m") <= 0.75)
        if (rt(s, "zerg", "raw", "cpu_m") >= 0) t = t "; CPU <= 1.10x raw: " verdict(rt(s, "zerg", "raw", "cpu_m") <= 1.10)
        row("1. plaintext keep-alive, 64 conns", "zerg", s, "zerg", "req/s", t)
        row("", "nginx", s, "nginx", "req/s", "")
        row("", "raw", s, "raw", "req/s", "")
        baserow(s, "req/s", 0)
        s = "pipe16"; t = ""
        if (rt(s, "zerg", "nginx", "rps") >= 0) t = ">= 5x nginx: " verdict(rt(s, "zerg", "nginx", "rps") >= 5)
        if (rt(s, "zerg", "raw", "rps") >= 0) t = t "; >= 0.9x raw: " verdict(rt(s, "zerg", "raw", "rps") >= 0.9)
        row("2. plaintext pipelined x16, 64 conns", "zerg", s, "zerg", "req/s", t)
        row("", "nginx", s, "nginx", "req/s", "")
        row("", "raw", s, "raw", "req/s", "")
        baserow(s, "req/s", 0.85)
        s = "churn"; t = ""
        if (rt(s, "zerg", "nginx", "rps") >= 0) t = ">= 1x nginx: " verdict(rt(s, "zerg", "nginx", "rps") >= 1)
        row("3. churn, 1 request per connection, 64 at a time", "zerg, 1 reactor (default: accepts on its ring)", s, "zerg", "conn/s", t)
        row("", "zerg, 2 reactors (default: acceptor thread)", s, "zerg2", "conn/s", "")
        row("", "zerg, 2 reactors, reuseport", s, "zerg2rp", "conn/s", "")
        row("", "zerg, 1 reactor, acceptor thread", s, "zergrp", "conn/s", "")
        row("", "nginx", s, "nginx", "conn/s", "")
        s = "churnrst"; t = ""
        if (rt(s, "zerg", "nginx", "cpu_m") >= 0) t = sprintf("CPU %.2fx nginx (<= 0.50x: %s)", rt(s, "zerg", "nginx", "cpu_m"), verdict(rt(s, "zerg", "nginx", "cpu_m") <= 0.5))
        if (has(s, "zerg", "rps") || has(s, "nginx", "rps")) {
            row("3. churn, " creqs " keep-alive requests then RST (HttpArena limited-conn), " cconns " at a time", "zerg, 1 reactor", s, "zerg", "req/s", t)
            row("", "zerg, 2 reactors (default: acceptor thread)", s, "zerg2", "req/s", "")
            row("", "zerg, 2 reactors, reuseport", s, "zerg2rp", "req/s", "")
            row("", "nginx", s, "nginx", "req/s", "")
            baserow(s, "req/s", 0)
        }
        s = "echo64"; t = ""
        if (rt(s, "zerg", "raw", "rps") >= 0) t = ">= 0.9x raw: " verdict(rt(s, "zerg", "raw", "rps") >= 0.9)
        row("4. echo 64 B, 50 conns", "zerg", s, "zerg", "msg/s", t)
        row("", "raw", s, "raw", "msg/s", "")
        s = "echo4096"; t = ""
        if (rt(s, "zerg", "raw", "rps") >= 0) t = ">= 0.9x raw: " verdict(rt(s, "zerg", "raw", "rps") >= 0.9)
        row("4. echo 4 KiB, 50 conns", "zerg", s, "zerg", "msg/s", t)
        row("", "raw", s, "raw", "msg/s", "")
        split("zerg nginx base", mv, " ")
        ml["zerg"] = "zerg (default config)"; ml["nginx"] = "nginx"; ml["base"] = "zerg " base " (baseline, default config)"
        for (i = 1; i <= 3; i++) {
            v = mv[i]
            if (v == "base" && !has("memstart", v, "rss")) continue
            r = has("memstart", v, "rss") ? sprintf("%.1f MiB RSS", m["memstart", v, "rss"] / 1024) : "n/a"
            printf "| %s | %s | %s | %s | | | | | | | | | |\n", i == 1 ? "5. memory at start" : "", ml[v], r,
                v == "nginx" ? "" : ratio("memstart", v, "nginx", "rss")
        }
        ml["zerg"] = "zerg"; ml["base"] = "zerg " base " (baseline)"
        for (i = 1; i <= 3; i++) {
            v = mv[i]
            if (v == "base" && !has("idle", v, "per_conn")) continue
            r = has("idle", v, "per_conn") ? grp(m["idle", v, "per_conn"]) " B / conn (" grp(m["idle", v, "slot"]) " slot + " grp(m["idle", v, "growth"]) " growth)" : "n/a"
            t = (v == "zerg" && has("idle", v, "per_conn")) ? "< 1 KiB: " verdict(m["idle", v, "per_conn"] < 1024) : ""
            if (v == "base" && has("idle", "zerg", "per_conn") && m["idle", v, "per_conn"] != 0)
                t = sprintf("zerg / baseline: %.2fx", m["idle", "zerg", "per_conn"] / m["idle", v, "per_conn"])
            printf "| %s | %s | %s | %s | | | | | | | | | %s |\n", i == 1 ? "5. memory per idle conn (" grp(big) " conns, " naddrs " source addrs)" : "", ml[v], r,
                v == "nginx" ? "" : ratio("idle", v, "nginx", "per_conn"), t
        }
        row("6. scale: keep-alive, 64 conns", "zerg", "ka64", "zerg", "req/s", "")
        row("", "nginx", "ka64", "nginx", "req/s", "")
        row("", "raw", "ka64", "raw", "req/s", "")
        baserow("ka64", "req/s", 0)
        row("6. scale: keep-alive, 1 000 conns", "zerg", "scale1000", "zerg", "req/s", "")
        row("", "nginx", "scale1000", "nginx", "req/s", "")
        row("", "raw", "scale1000", "raw", "req/s", "")
        baserow("scale1000", "req/s", 0)
        row("6. scale: keep-alive, " grp(big) " conns", "zerg", "scalebig", "zerg", "req/s", "")
        row("", "nginx", "scalebig", "nginx", "req/s", "")
        row("", "raw", "scalebig", "raw", "req/s", "")
        baserow("scalebig", "req/s", 0)
        split("modka modpipe modchurn", ms, " ")
        split("keep-alive, 64 conns|pipelined x16, 64 conns|churn, 64 at a time", mt, "|")
        split("req/s req/s conn/s", mu, " ")
        split("0.97 0.97 0.95", mlim, " ")
        for (i = 1; i <= 3; i++) {
            t = ""
            if (rt(ms[i], "zergmod", "zerg", "rps") >= 0)
                t = ">= " mlim[i] "x no modules: " verdict(rt(ms[i], "zergmod", "zerg", "rps") >= mlim[i])
            row("7. modules (permissive rules): " mt[i], "zerg, no modules", ms[i], "zerg", mu[i], "")
            row("", i == 3 ? "zerg, proxy_protocol + access + limit_conn" : "zerg, access + limit_conn", ms[i], "zergmod", mu[i], t)
        }
        split("arenabase arenapipe arenalimit", as, " ")
        at[1] = "baseline (GET, POST Content-Length, POST chunked; 1 in flight), " aconns " conns"
        at[2] = "pipelined (GET /pipeline, 16 in flight), 64 conns"
        at[3] = "limited-conn (the baseline mix, RST after every 10 answers), " aconns " conns"
        for (i = 1; i <= 3; i++) {
            if (!has(as[i], "zerg", "rps") && !has(as[i], "nginx", "rps"))
                continue
            t = ""
            if (rt(as[i], "zerg", "nginx", "cpu_m") >= 0)
                t = sprintf("CPU per request %.2fx nginx", rt(as[i], "zerg", "nginx", "cpu_m"))
            row("9. HttpArena " at[i], "zerg, arena handler", as[i], "zerg", "req/s", t)
            row("", "zerg, static routes", as[i], "zergstatic", "req/s", "")
            row("", "nginx (return 200)", as[i], "nginx", "req/s", "")
        }
    }' "$TMP/median.tsv"
    echo
    echo "CPU s / M: server CPU seconds (utime + stime from /proc/PID/stat, all threads) per million requests, messages or connections."
    echo "server CPU: share of one core the server used during the run (below ~95%, the load generator was the limit)."
    echo "noise: share of the server's or the load generator's CPU taken by other processes (a run above $NOISY% is repeated once)."
    echo "Latency: wrk's (keep-alive, pipelined: per batch of 16) or loadgen's (echo round trip, churn connect to EOF)."
    echo "Throughput for 2 reactors: both reactors pinned to CPU $SRV_CPU with the rest of the server."
    echo "Memory per idle conn: RSS growth with the connections open, plus the resident cost of one preallocated connection slot"
    echo "((RSS sized for $MAXC conns - RSS sized for $SMALL) / $((MAXC - SMALL))); zerg: $IDLE_PLUGIN listener, nginx: worker_connections. At start: zerg's default config, nginx with worker_connections 8192."
    echo "Churn with RST: tests/bench/loadgen http -m plaintext -P 1 -r $CHURN_REQS -a $NADDRS: each connection sends $CHURN_REQS keep-alive GET /plaintext, one at a time, then closes with SO_LINGER 0 and connects again; CPU per request."
    if [ -n "$BASE_REV" ]; then
        echo "Baseline: zerg $BASE_REV (BASELINE=$BASELINE), built from git archive with ./configure && make; it and the current zerg run in the same rounds, their order alternating."
    fi
}

# Section 12: RSS after a fixed amount of echo traffic.
rss_table() {
    echo
    echo "#### 12. RSS after $((RSS_BYTES / 1048576)) MiB of echo traffic, $RSS_CONNS conns ($((RSS_SIZE / 1024)) KiB messages, 4 in flight each), echo plugin, default config"
    echo
    awk -F '\t' -v base="$BASE_REV" "$AWK_TABLE_LIB"'
    END {
        vb = base == "" ? "" : " vs baseline |"
        print "| server | reactors | RSS at start | RSS after | RSS after / reactor | RSS 3 s later / reactor |" vb " throughput | CPU s / GiB | server CPU | noise | target |"
        print "|---|--:|--:|--:|--:|--:|" (base == "" ? "" : "--:|") "--:|--:|--:|--:|---|"
        for (n = 1; n <= 2; n++) {
            for (j = 1; j <= 2; j++) {
                w = j == 1 ? "zerg" : "base"
                v = n == 1 ? w : w "2"
                if (!has("rss", v, "after")) {
                    if (w == "zerg") printf "| zerg | %d | n/a | | | |%s | | | | |\n", n, base == "" ? "" : " |"
                    continue
                }
                per = m["rss", v, "after"] / n
                per3 = m["rss", v, "settled"] / n
                t = w == "zerg" ? "<= 8 MiB / reactor: after " verdict(per <= 8192) ", 3 s later " verdict(per3 <= 8192) : ""
                b = n == 1 ? "base" : "base2"
                r = (w == "zerg" && has("rss", b, "after") && m["rss", b, "after"] > 0) ? sprintf(" %.2fx |", m["rss", v, "after"] / m["rss", b, "after"]) : " |"
                if (base == "") r = ""
                printf "| %s | %d | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB |%s %.0f MB/s | %.3f | %s%% | %s%% | %s |\n",
                    w == "zerg" ? "zerg" : "zerg " base " (baseline)", n, m["rss", v, "start"] / 1024,
                    m["rss", v, "after"] / 1024, per / 1024, per3 / 1024, r, m["rss", v, "mbs"], m["rss", v, "cpu_g"],
                    m["rss", v, "util"], m["rss", v, "noise"], t
            }
        }
    }' "$TMP/median.tsv"
    echo
    echo "VmRSS of the zerg process half a second after tests/bench/loadgen echo -b $RSS_BYTES has had every byte back (no warm-up), and 3 s later; both reactors pinned to CPU $SRV_CPU."
    echo "$((RSS_SIZE * 4 * RSS_CONNS / 1048576)) MiB are in flight at once: a reactor's buffer window grows to hold them, then halves after each quiet second (buffer_window)."
    echo "nginx has no echo server (its stream module proxies, it does not answer), so it is not in this table."
}

# Section 8: a table of its own (two units of work, HAProxy as a second
# reference).
proxy_table() {
    echo
    echo "#### 8. TCP proxy: loadgen (CPU $CLI_CPU) -> proxy (CPU $SRV_CPU) -> backend (CPU $CLI_CPU)"
    echo
    awk -F '\t' -v skip="$PROXY_SKIP" -v have_zerg="$HAVE_PROXY" \
        -v big_conns=$PROXY_BIG_CONNS -v small_conns=$PROXY_SMALL_CONNS \
        -v small=$PROXY_SMALL -v depth=$PROXY_DEPTH -v bigsz=$PROXY_BIG "$AWK_TABLE_LIB"'
    function ratio(s, v, ref, k) {
        if (v == ref || !has(s, v, k) || !has(s, ref, k) || m[s, ref, k] == 0) return ""
        return sprintf("%.2fx", m[s, v, k] / m[s, ref, k])
    }
    function pct(s, v, k) { return has(s, v, k) ? sprintf("%.0f%%", m[s, v, k]) : "" }
    # s: scenario; big: 1 = MiB/s and CPU per GiB, 0 = req/s and CPU per M
    function row(title, label, s, v, big,   tk, ck, thr, cpu) {
        tk = big ? "mibs" : "rps"; ck = big ? "cpu_g" : "cpu_m"
        if (v == "zerg" && have_zerg != 1) {
            printf "| %s | %s | skipped: %s | | | | | | | | | | |\n", title, label, skip
            return
        }
        if (!has(s, v, tk)) {
            printf "| %s | %s | n/a | | | | | | | | | | |\n", title, label
            return
        }
        thr = big ? sprintf("%s MiB/s (%s answers/s)", grp(m[s, v, "mibs"]), grp(m[s, v, "rps"])) : grp(m[s, v, "rps"]) " req/s"
        cpu = has(s, v, ck) ? sprintf("%.3f s / %s", m[s, v, ck], big ? "GiB" : "M req") : ""
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", title, label, thr,
            ratio(s, v, "nginx", tk), ratio(s, v, "haproxy", tk), cpu,
            ratio(s, v, "nginx", ck), ratio(s, v, "haproxy", ck),
            pct(s, v, "util"), pct(s, v, "cli_util"), pct(s, v, "noise"), us(s, v, "p50"), us(s, v, "p99")
    }
    END {
        print "| shape | proxy | throughput | vs nginx | vs HAProxy | proxy CPU | CPU vs nginx | CPU vs HAProxy | proxy CPU use | loadgen + backend CPU | noise | p50 | p99 |"
        print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        split("zerg nginx haproxy", vs, " ")
        split("zerg (proxy plugin, 1 reactor)|nginx (stream, 1 worker)|HAProxy (mode tcp, nbthread 1)", ls, "|")
        for (i = 1; i <= 3; i++)
            row(i == 1 ? sprintf("8a. %d KiB answers, %d conns, 1 in flight each", bigsz / 1024, big_conns) : "", ls[i], "proxybig", vs[i], 1)
        for (i = 1; i <= 3; i++)
            row(i == 1 ? sprintf("8b. %d B answers, %d conns, %d pipelined each", small, small_conns, depth) : "", ls[i], "proxysmall", vs[i], 0)
    }' "$TMP/median.tsv"
    echo
    echo "Each proxy: one process, one worker or thread (zerg: \"reactors\": 1; nginx: worker_processes 1, master_process off, stream proxy_pass;"
    echo "HAProxy: nbthread 1, mode tcp), default buffer settings, pinned to CPU $SRV_CPU. Backend: tests/bench/backend (epoll, one thread, sendfile for large answers),"
    echo "pinned to CPU $CLI_CPU with loadgen get; requests are lines \"GET <n>\", answers n bytes of 'x'; each client connection has its own connection to the backend."
    echo "proxy CPU: utime + stime of the proxy process from /proc/PID/stat over the measured run, per GiB of answers (8a) or per million requests (8b)."
    echo "vs nginx, vs HAProxy: throughput ratio (higher is better); CPU vs: CPU per unit ratio (lower is better)."
    echo "proxy CPU use, loadgen + backend CPU: share of one core (proxy below ~95% with loadgen + backend near 100%: the client side was the limit)."
    echo "Latency: loadgen's, request sent to answer complete."
}

# Section 10: a table of its own (each server against itself).
alog_table() {
    echo
    echo "#### 10. Per-request access log, on vs off: /plaintext, $HTTP_CONNS conns (wrk, CPU $CLI_CPU), server on CPU $SRV_CPU"
    echo
    awk -F '\t' "$AWK_TABLE_LIB"'
    function known(s, off, on) { return has(s, off, "rps") && has(s, on, "rps") && m[s, off, "rps"] > 0 }
    # share of throughput lost with the log on (0.05 = 5%; below 0: none)
    function loss(s, off, on) { return 1 - m[s, on, "rps"] / m[s, off, "rps"] }
    function row(title, label, s, off, on, target,   r, c) {
        r = known(s, off, on) ? sprintf("%.3fx", 1 - loss(s, off, on)) : ""
        c = (has(s, off, "cpu_m") && has(s, on, "cpu_m") && m[s, off, "cpu_m"] > 0) ? sprintf("%.2fx", m[s, on, "cpu_m"] / m[s, off, "cpu_m"]) : ""
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", title, label,
            has(s, off, "rps") ? grp(m[s, off, "rps"]) " req/s" : "n/a",
            has(s, on, "rps") ? grp(m[s, on, "rps"]) " req/s" : "n/a", r,
            has(s, off, "cpu_m") ? sprintf("%.2f", m[s, off, "cpu_m"]) : "",
            has(s, on, "cpu_m") ? sprintf("%.2f", m[s, on, "cpu_m"]) : "", c,
            has(s, on, "util") ? m[s, on, "util"] "%" : "",
            has(s, on, "noise") ? sprintf("%.0f%%", m[s, on, "noise"]) : "", target
    }
    END {
        print "| shape | server | log off | log on | on / off | CPU s / M off | CPU s / M on | CPU on / off | server CPU (on) | noise (on) | target |"
        print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"
        split("alogka alogpipe alogchurn", ss, " ")
        split("keep-alive|pipelined x16|churn, 1 request per connection", st, "|")
        for (i = 1; i <= 3; i++) {
            s = ss[i]; t = ""
            if (known(s, "zerg", "zergalog")) {
                z = loss(s, "zerg", "zergalog")
                t = sprintf("loss %.1f%% < 10%%: %s", z * 100, verdict(z < 0.10))
                if (known(s, "nginx", "nginxalog")) {
                    n = loss(s, "nginx", "nginxalog")
                    t = t sprintf("; < nginx (%.1f%%): %s", n * 100, verdict(z < n))
                }
            }
            row(st[i], "zerg (http plugin, 1 reactor)", s, "zerg", "zergalog", t)
            t = ""
            # The goal is for requests on open connections; in churn the
            # line of a connection is the line of a request (no target).
            if (known(s, "zerg", "zergclog") && s != "alogchurn") {
                z = loss(s, "zerg", "zergclog")
                t = sprintf("loss %.1f%% < 2%%: %s", z * 100, verdict(z < 0.02))
            }
            row("", "zerg, per-connection log (access_log module) instead", s, "zerg", "zergclog", t)
            row("", "nginx, buffer=64k flush=1s", s, "nginx", "nginxalog", "")
            row("", "nginx, one write per request", s, "nginx", "nginxalognb", "")
        }
    }' "$TMP/median.tsv"
    echo
    echo "Both servers write the same line to a file of the run's temporary directory: nginx's combined format with \$request_time appended."
    echo "zerg: \"access_log\": {\"path\": ...} with its defaults (64 KiB per reactor, written when full and at least every second)."
    echo "zerg, per-connection log: the access_log module (a line per connection, the same buffering) and no per-request log; the counters behind /metrics are always kept, so both columns include them."
    echo "nginx: access_log with buffer=64k flush=1s (zerg's terms), and without (nginx's default: one write(2) per request)."
    echo "on / off: throughput with the log on over off (the same server); CPU on / off: server CPU per request, on over off. Each run's log is checked to hold a line per request."
}

# Section 11: receive modes side by side, relative to incremental
# consumption without bundles.
bundles_table() {
    echo
    echo "#### 11. receive modes: recv bundles vs incremental vs whole-buffer receives (zerg, 1 reactor)"
    echo
    awk -F '\t' "$AWK_TABLE_LIB"'
    function ratio(s, v, k) {
        if (v == "inc" || !has(s, v, k) || !has(s, "inc", k) || m[s, "inc", k] == 0) return ""
        return sprintf("%.3fx", m[s, v, k] / m[s, "inc", k])
    }
    END {
        print "| shape | receives | throughput | vs incremental | CPU s / M | CPU vs incremental | server CPU | noise | p50 | p99 |"
        print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
        split("bundbig bund4k bundpipe", ss, " ")
        st[1] = "echo 64 KiB, 4 in flight, 16 conns"
        st[2] = "echo 4 KiB, 16 in flight, 50 conns"
        st[3] = "HTTP plaintext pipelined x16, 64 conns"
        split("bundle inc whole", vs, " ")
        vl[1] = "bundles (whole buffers)"; vl[2] = "incremental, no bundles"; vl[3] = "whole buffers, no bundles"
        for (i = 1; i <= 3; i++) {
            for (j = 1; j <= 3; j++) {
                s = ss[i]; v = vs[j]
                if (!has(s, v, "rps")) {
                    printf "| %s | %s | n/a | | | | | | | |\n", j == 1 ? st[i] : "", vl[j]
                    continue
                }
                thr = grp(m[s, v, "rps"]) (i < 3 ? " msg/s" : " req/s")
                if (has(s, v, "mbs")) thr = thr sprintf(" (%.0f MB/s)", m[s, v, "mbs"])
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", j == 1 ? st[i] : "", vl[j], thr,
                    ratio(s, v, "rps"), has(s, v, "cpu_m") ? sprintf("%.3f", m[s, v, "cpu_m"]) : "",
                    ratio(s, v, "cpu_m"), has(s, v, "util") ? m[s, v, "util"] "%" : "",
                    has(s, v, "noise") ? m[s, v, "noise"] "%" : "", us(s, v, "p50"), us(s, v, "p99")
            }
        }
    }' "$TMP/median.tsv"
    echo
    echo "Each mode forced in reactor keys (recv_bundle, incremental_buffers); the modes run in a rotating order within each round."
    echo "vs incremental: throughput ratio (higher is better); CPU vs incremental: CPU per message or request (lower is better)."
}

TABLE=$TMP/table.md
{
    echo "### zerg benchmark, $stamp"
    echo
    haproxy_v=
    want proxy && [ -n "$HAPROXY" ] && haproxy_v=" $("$HAPROXY" -v 2>&1 | head -n 1 | cut -d' ' -f1,3),"
    echo "$(nproc) x $cpu, Linux $(uname -r); $("$NGINX" -v 2>&1 | sed 's/.*: //'),$haproxy_v $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)," \
        "zerg $(git rev-parse --short HEAD 2>/dev/null || echo '?'); server on CPU $SRV_CPU, load generator on CPU $CLI_CPU;" \
        "$mode: median of $RUNS run(s) of ${DUR}s after ${WARM}s warm-up; total ${elapsed}s."
    echo
    main=0
    for w in keepalive pipeline churn echo memory scale modules arena; do want $w && main=1; done
    [ $main = 1 ] && main_table
    want proxy && proxy_table
    want accesslog && alog_table
    want bundles && bundles_table
    want rss && rss_table
    if [ -s "$NOTES" ]; then
        echo
        sort -u "$NOTES" | sed 's/^/Note: /'
    fi
} >"$TABLE"

cat "$TABLE"

# ---- results directory and charts -------------------------------------------

mkdir -p "$RESULTS" || die "cannot create $RESULTS"
file=$RESULTS/bench-$(date +%Y%m%d-%H%M%S)
cp "$TABLE" "$file.md"
cp "$TABLE" "$RESULTS/latest.md"
cp "$DATA" "$RESULTS/latest-runs.tsv"
cp "$TMP/median.tsv" "$RESULTS/latest-median.tsv"

# plot_chart DAT PNG TITLE YLABEL LOGSCALE(0|1) "column:series title"...:
# a clustered bar chart of the series that have at least one value.
plot_chart() {
    dat=$1 png=$2 title=$3 ylabel=$4 logy=$5
    shift 5
    plot=
    for spec in "$@"; do
        col=${spec%%:*}
        awk -F '\t' -v c="$col" '$c != "-" { f = 1 } END { exit !f }' "$dat" || continue
        if [ -z "$plot" ]; then
            plot="plot '$dat' using $col:xtic(1) title '${spec#*:}'"
        else
            plot="$plot, '' using $col title '${spec#*:}'"
        fi
    done
    [ -n "$plot" ] || return 0
    logcmd="unset logscale y; set yrange [0:*]"
    [ "$logy" = 1 ] && logcmd="set logscale y; set autoscale y"
    gnuplot 2>"$TMP/gnuplot.err" <<EOF || { say "bench: gnuplot failed for $png:"; cat "$TMP/gnuplot.err" >&2; }
set terminal pngcairo size 1000,560 font "sans,10" noenhanced
set datafile separator "\t"
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left
set grid ytics
set xtics nomirror
$logcmd
set title "$title"
set ylabel "$ylabel"
set output "$png"
$plot
EOF
}

rm -f "$RESULTS/throughput.png" "$RESULTS/cpu.png" "$RESULTS/memory.png" "$RESULTS/rss-start.png" \
    "$RESULTS/rss-traffic.png"
if [ $HAVE_GNUPLOT = 1 ]; then
    awk -F '\t' -v big="$BIG" -v dir="$TMP" "$AWK_TABLE_LIB"'
    function v(s, srv, k) { return ((s, srv, k) in m) ? m[s, srv, k] : "-" }
    function line(f, label, s, k) { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", label, v(s, "zerg", k), v(s, "nginx", k), v(s, "raw", k), v(s, "zerg2", k), v(s, "zergrp", k), v(s, "base", k) > f }
    END {
        f = dir "/throughput.dat"; g = dir "/cpu.dat"; h = dir "/mem.dat"
        split("ka64 pipe16 churn churnrst echo64 echo4096 scale1000 scalebig", ids, " ")
        split("keep-alive|pipelined x16|churn (conn/s)|10 req, RST|echo 64 B|echo 4 KiB|1 000 conns|" big " conns", names, "|")
        for (i = 1; i <= 8; i++) { line(f, names[i], ids[i], "rps"); line(g, names[i], ids[i], "cpu_m") }
        printf "RSS at start (KiB)\t%s\t%s\t%s\n", v("memstart", "zerg", "rss"), v("memstart", "nginx", "rss"), v("memstart", "base", "rss") > dir "/start.dat"
        split("slot growth per_conn", mk, " ")
        split("preallocated slot|growth while open|total per idle connection", mn, "|")
        for (i = 1; i <= 3; i++)
            printf "%s\t%s\t%s\t%s\n", mn[i], v("idle", "zerg", mk[i]), v("idle", "nginx", mk[i]), v("idle", "base", mk[i]) > h
        printf "1 reactor\t%s\t%s\t%s\t%s\n", v("rss", "zerg", "after"), v("rss", "base", "after"), v("rss", "zerg", "settled"), v("rss", "base", "settled") > dir "/rss.dat"
        printf "2 reactors\t%s\t%s\t%s\t%s\n", v("rss", "zerg2", "after"), v("rss", "base2", "after"), v("rss", "zerg2", "settled"), v("rss", "base2", "settled") > dir "/rss.dat"
    }' "$TMP/median.tsv"
    bl="7:zerg $BASE_REV (baseline)"
    set -- "2:zerg" "3:nginx" "4:raw io_uring" "5:zerg, 2 reactors" "6:zerg, acceptor thread" "$bl"
    plot_chart "$TMP/throughput.dat" "$RESULTS/throughput.png" \
        "throughput, median of $RUNS ($stamp)" "requests, messages or connections per second" 1 "$@"
    plot_chart "$TMP/cpu.dat" "$RESULTS/cpu.png" \
        "server CPU per million requests, messages or connections (lower is better)" "CPU seconds / M" 0 "$@"
    plot_chart "$TMP/mem.dat" "$RESULTS/memory.png" \
        "RSS per idle connection ($BIG idle connections)" "bytes per connection" 0 "2:zerg" "3:nginx" "4:${bl#*:}"
    plot_chart "$TMP/start.dat" "$RESULTS/rss-start.png" \
        "RSS at start (zerg: default config; nginx: 1 worker, 8192 connections)" "KiB" 0 "2:zerg" "3:nginx" "4:${bl#*:}"
    plot_chart "$TMP/rss.dat" "$RESULTS/rss-traffic.png" \
        "RSS after $((RSS_BYTES / 1048576)) MiB of echo traffic, $RSS_CONNS connections" "KiB" 0 "2:zerg" "3:${bl#*:}" \
        "4:zerg, 3 s later" "5:${bl#*:}, 3 s later"
fi
say "bench: results in $RESULTS/ ($(basename "$file").md, latest.md, *.png)"
