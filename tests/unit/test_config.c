/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests of the configuration loader (core/config.c):
 * defaults, every key, reactor overrides, listen addresses, and every kind
 * of invalid input checked against its exact one-line message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../core/conf_ctx.c"
#include "../../core/config.c"

/* One valid listener, for tests about other keys. */
#define LST                                                                    \
    "\"listeners\": [{\"name\": \"a\", \"listen\": \"127.0.0.1:1\", "          \
    "\"plugin\": \"echo\"}]"

static zg_config_t *parse_ok(const char *json)
{
    zg_config_t *cfg = NULL;
    char err[512];
    int rc =
        zg_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof(err));

    if (rc != 0)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    return cfg;
}

static void check_err(const char *json, const char *want)
{
    zg_config_t *cfg = (zg_config_t *)(uintptr_t)1;
    char err[512];
    int rc =
        zg_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof(err));

    if (rc == 0 || strcmp(err, want) != 0)
        print_error("input: %s\n", json);
    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    assert_string_equal(err, want);
}

static void check_reactor_defaults(const zg_reactor_conf_t *r)
{
    assert_int_equal(r->ring_entries, 1024);
    assert_int_equal(r->recv_buffer_size, 16384);
    assert_int_equal(r->buffer_ring_entries, 1024);
    assert_int_equal(r->batch_cqes, 1024);
    assert_int_equal(r->max_connections, 8192);
    assert_int_equal(r->cq_timeout_us, 100000);
    assert_int_equal(r->sqpoll, 0);
    assert_int_equal(r->sq_cpu, -1);
    assert_int_equal(r->sq_idle_ms, 100);
    assert_int_equal(r->cpu_affinity, -2);
    assert_int_equal(r->incremental_buffers, ZG_TRI_AUTO);
    assert_int_equal(r->recv_bundle, ZG_TRI_AUTO);
}

static void check_listener_defaults(const zg_listener_conf_t *l)
{
    assert_int_equal(l->ip_version, ZG_IP_DUAL);
    assert_int_equal(l->backlog, 511);
    assert_string_equal(l->plugin_config, "{}");
    assert_int_equal(l->idle_timeout_ms, 60000);
    assert_int_equal(l->linger_ms, 2000);
    assert_int_equal(l->max_connections, 100000);
    assert_int_equal(l->max_held_bytes, 1048576);
    assert_int_equal(l->write_high_watermark, 1048576);
    assert_int_equal(l->write_low_watermark, 262144);
    assert_int_equal(l->tcp_nodelay, 1);
}

static void check_addr(const zg_listener_conf_t *l, const char *want)
{
    char buf[64];

    assert_int_equal(
        zg_addr_format((const struct sockaddr *)&l->addr, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void test_default(void **state)
{
    zg_config_t *cfg = NULL;
    char err[256];

    (void)state;
    assert_int_equal(zg_config_parse(zg_config_default,
                                     strlen(zg_config_default), "<embedded>",
                                     &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg->path, "<embedded>");
    assert_int_equal(cfg->reactors, 1);
    /* auto: one reactor accepts on its own ring */
    assert_int_equal(cfg->accept, ZG_ACCEPT_REUSEPORT);
    assert_int_equal(cfg->acceptor.ring_entries, 256);
    assert_int_equal(cfg->acceptor.batch, 256);
    assert_int_equal(cfg->acceptor.cq_timeout_us, 100000);
    assert_int_equal(cfg->acceptor.sqpoll, 0);
    assert_int_equal(cfg->acceptor.sq_cpu, -1);
    assert_int_equal(cfg->acceptor.sq_idle_ms, 100);
    check_reactor_defaults(&cfg->reactor[0]);
    assert_int_equal(cfg->log.level, ZG_LOG_INFO);
    assert_string_equal(cfg->log.error_log, "stderr");
    assert_int_equal(cfg->shutdown_timeout_ms, 10000);
    assert_int_equal(cfg->nlisteners, 2);

    assert_string_equal(cfg->listeners[0].name, "echo");
    assert_string_equal(cfg->listeners[0].listen, "127.0.0.1:7000");
    assert_string_equal(cfg->listeners[0].plugin, "echo");
    assert_int_equal(cfg->listeners[0].addrlen, sizeof(struct sockaddr_in));
    assert_int_equal(cfg->listeners[0].line, 7);
    check_addr(&cfg->listeners[0], "127.0.0.1:7000");
    check_listener_defaults(&cfg->listeners[0]);

    assert_string_equal(cfg->listeners[1].name, "http");
    assert_string_equal(cfg->listeners[1].listen, "127.0.0.1:8080");
    assert_string_equal(cfg->listeners[1].plugin, "http");
    assert_int_equal(cfg->listeners[1].line, 12);
    check_addr(&cfg->listeners[1], "127.0.0.1:8080");
    check_listener_defaults(&cfg->listeners[1]);
    zg_config_free(cfg);

    /* A NULL path names the embedded default. */
    assert_int_equal(zg_config_parse(zg_config_default,
                                     strlen(zg_config_default), NULL, &cfg, err,
                                     sizeof(err)),
                     0);
    assert_string_equal(cfg->path, "<embedded>");
    zg_config_free(cfg);
    zg_config_free(NULL);
}

static void test_default_matches_file(void **state)
{
    char buf[8192];
    size_t n;
    FILE *f = fopen("conf/zerg.json", "rb");

    (void)state;
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_true(n < sizeof(buf));
    assert_int_equal(n, strlen(zg_config_default));
    assert_memory_equal(buf, zg_config_default, n);
}

static const char full_json[] =
    "{\n"
    "    \"reactors\": 4, \"pid\": \"/run/zerg-test.pid\",\n"
    "    \"accept\": \"reuseport\",\n"
    "    \"acceptor\": {\n"
    "        \"ring_entries\": 512, \"batch\": 128, \"cq_timeout_us\": 5000,\n"
    "        \"sqpoll\": true, \"sq_cpu\": 3, \"sq_idle_ms\": 50\n"
    "    },\n"
    "    \"reactor\": {\n"
    "        \"ring_entries\": 4096, \"recv_buffer_size\": 32768,\n"
    "        \"buffer_ring_entries\": 2048, \"batch_cqes\": 512,\n"
    "        \"max_connections\": 4096, \"cq_timeout_us\": 500,\n"
    "        \"sqpoll\": true, \"sq_cpu\": 2, \"sq_idle_ms\": 10,\n"
    "        \"cpu_affinity\": \"auto\", \"incremental_buffers\": false,\n"
    "        \"recv_bundle\": true\n"
    "    },\n"
    "    \"reactor_overrides\": [\n"
    "        { \"id\": 2, \"recv_buffer_size\": 65536, \"cpu_affinity\": 7 }\n"
    "    ],\n"
    "    \"log\": {\n"
    "        \"level\": \"debug\",\n"
    "        \"error_log\": \"/var/log/zerg/error.log\"\n"
    "    },\n"
    "    \"shutdown_timeout_ms\": 2500,\n"
    "    \"listeners\": [\n"
    "        {\n"
    "            \"name\": \"web-1.a_b\", \"listen\": \"[::]:8080\",\n"
    "            \"ip_version\": \"v6\", \"backlog\": 1024,\n"
    "            \"plugin\": \"./plugins/http/http.so\",\n"
    "            \"config\": { \"root\": \"/srv\", \"l\": [1, 2.5, null],\n"
    "                        \"n\": {} },\n"
    "            \"idle_timeout_ms\": 0, \"max_connections\": 5,\n"
    "            \"max_held_bytes\": 1024, \"tcp_nodelay\": false\n"
    "        },\n"
    "        { \"name\": \"e\", \"listen\": \"0.0.0.0:8080\",\n"
    "          \"ip_version\": \"v4\", \"plugin\": \"echo\",\n"
    "          \"backlog\": 1048576, \"idle_timeout_ms\": 86400000,\n"
    "          \"max_connections\": 10000000,\n"
    "          \"max_held_bytes\": 1073741824, \"tcp_nodelay\": true }\n"
    "    ]\n"
    "}\n";

static void test_full(void **state)
{
    zg_config_t *cfg = parse_ok(full_json);
    const zg_listener_conf_t *l;

    (void)state;
    assert_string_equal(cfg->path, "t.json");
    assert_int_equal(cfg->reactors, 4);
    assert_int_equal(cfg->accept, ZG_ACCEPT_REUSEPORT);
    assert_int_equal(cfg->acceptor.ring_entries, 512);
    assert_int_equal(cfg->acceptor.batch, 128);
    assert_int_equal(cfg->acceptor.cq_timeout_us, 5000);
    assert_int_equal(cfg->acceptor.sqpoll, 1);
    assert_int_equal(cfg->acceptor.sq_cpu, 3);
    assert_int_equal(cfg->acceptor.sq_idle_ms, 50);
    for (int i = 0; i < 4; i++) {
        const zg_reactor_conf_t *r = &cfg->reactor[i];

        assert_int_equal(r->ring_entries, 4096);
        assert_int_equal(r->recv_buffer_size, i == 2 ? 65536 : 32768);
        assert_int_equal(r->buffer_ring_entries, 2048);
        assert_int_equal(r->batch_cqes, 512);
        assert_int_equal(r->max_connections, 4096);
        assert_int_equal(r->cq_timeout_us, 500);
        assert_int_equal(r->sqpoll, 1);
        assert_int_equal(r->sq_cpu, 2);
        assert_int_equal(r->sq_idle_ms, 10);
        assert_int_equal(r->cpu_affinity, i == 2 ? 7 : -1);
        assert_int_equal(r->incremental_buffers, ZG_TRI_OFF);
        assert_int_equal(r->recv_bundle, ZG_TRI_ON);
    }
    assert_int_equal(cfg->log.level, ZG_LOG_DEBUG);
    assert_string_equal(cfg->log.error_log, "/var/log/zerg/error.log");
    assert_int_equal(cfg->shutdown_timeout_ms, 2500);
    assert_int_equal(cfg->nlisteners, 2);

    l = &cfg->listeners[0];
    assert_string_equal(l->name, "web-1.a_b");
    assert_string_equal(l->listen, "[::]:8080");
    assert_int_equal(l->addr.ss_family, AF_INET6);
    assert_int_equal(l->addrlen, sizeof(struct sockaddr_in6));
    check_addr(l, "[::]:8080");
    assert_int_equal(l->ip_version, ZG_IP_V6);
    assert_int_equal(l->backlog, 1024);
    assert_string_equal(l->plugin, "./plugins/http/http.so");
    assert_string_equal(l->plugin_config,
                        "{\"root\":\"/srv\",\"l\":[1,2.5,null],\"n\":{}}");
    assert_int_equal(l->idle_timeout_ms, 0);
    assert_int_equal(l->max_connections, 5);
    assert_int_equal(l->max_held_bytes, 1024);
    assert_int_equal(l->tcp_nodelay, 0);
    assert_int_equal(l->line, 25);

    /* v6-only [::]:8080 and 0.0.0.0:8080 do not collide. */
    l = &cfg->listeners[1];
    assert_string_equal(l->name, "e");
    check_addr(l, "0.0.0.0:8080");
    assert_int_equal(l->ip_version, ZG_IP_V4);
    assert_int_equal(l->backlog, 1048576);
    assert_string_equal(l->plugin, "echo");
    assert_string_equal(l->plugin_config, "{}");
    assert_int_equal(l->idle_timeout_ms, 86400000);
    assert_int_equal(l->max_connections, 10000000);
    assert_int_equal(l->max_held_bytes, 1073741824);
    assert_int_equal(l->tcp_nodelay, 1);
    assert_int_equal(l->line, 34);
    zg_config_free(cfg);
}

static void test_overrides(void **state)
{
    zg_config_t *cfg = parse_ok(
        "{\"reactors\": 4, \"reactor\": {\"ring_entries\": 2048},"
        " \"reactor_overrides\": ["
        "{\"id\": 3, \"cpu_affinity\": 3, \"sqpoll\": true,"
        " \"recv_bundle\": false},"
        "{\"id\": 1, \"recv_buffer_size\": 65536, \"ring_entries\": 64,"
        " \"cpu_affinity\": \"off\", \"incremental_buffers\": true}]," LST "}");

    (void)state;
    assert_int_equal(cfg->reactors, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(cfg->reactor[i].ring_entries, i == 1 ? 64 : 2048);
    assert_int_equal(cfg->reactor[0].recv_buffer_size, 16384);
    assert_int_equal(cfg->reactor[0].cpu_affinity, -2);
    assert_int_equal(cfg->reactor[0].sqpoll, 0);
    assert_int_equal(cfg->reactor[1].recv_buffer_size, 65536);
    assert_int_equal(cfg->reactor[1].cpu_affinity, -2);
    assert_int_equal(cfg->reactor[1].incremental_buffers, ZG_TRI_ON);
    assert_int_equal(cfg->reactor[1].recv_bundle, ZG_TRI_AUTO);
    assert_int_equal(cfg->reactor[2].recv_buffer_size, 16384);
    assert_int_equal(cfg->reactor[3].cpu_affinity, 3);
    assert_int_equal(cfg->reactor[3].sqpoll, 1);
    assert_int_equal(cfg->reactor[3].recv_bundle, ZG_TRI_OFF);
    assert_int_equal(cfg->reactor[3].recv_buffer_size, 16384);
    zg_config_free(cfg);

    /* Without "reactor", overrides apply on top of the defaults. */
    cfg = parse_ok("{\"reactors\": 2, \"reactor_overrides\": [{\"id\": 0,"
                   " \"batch_cqes\": 7}], " LST "}");
    assert_int_equal(cfg->reactor[0].batch_cqes, 7);
    cfg->reactor[0].batch_cqes = 1024;
    check_reactor_defaults(&cfg->reactor[0]);
    check_reactor_defaults(&cfg->reactor[1]);
    zg_config_free(cfg);
}

static void test_listen_ok(void **state)
{
    static const struct {
        const char *listen, *ipv, *want;
        int family;
    } cases[] = {
        {"127.0.0.1:7000", NULL, "127.0.0.1:7000", AF_INET},
        {"0.0.0.0:0", "v4", "0.0.0.0:0", AF_INET},
        {"255.255.255.255:65535", "dual", "255.255.255.255:65535", AF_INET},
        {"*:80", NULL, "[::]:80", AF_INET6},
        {"*:80", "dual", "[::]:80", AF_INET6},
        {"*:80", "v6", "[::]:80", AF_INET6},
        {"*:80", "v4", "0.0.0.0:80", AF_INET},
        {"localhost:0", NULL, "127.0.0.1:0", AF_INET},
        {"LocalHost:1", "v4", "127.0.0.1:1", AF_INET},
        {"localhost:5", "v6", "[::1]:5", AF_INET6},
        {"[::1]:65535", NULL, "[::1]:65535", AF_INET6},
        {"[::]:8080", "dual", "[::]:8080", AF_INET6},
        {"[2001:db8::1]:443", "v6", "[2001:db8::1]:443", AF_INET6},
        {"[::ffff:1.2.3.4]:1", NULL, "[::ffff:1.2.3.4]:1", AF_INET6},
        {"10.0.0.1:00080", NULL, "10.0.0.1:80", AF_INET},
    };
    char json[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zg_config_t *cfg;
        char ipv[64] = "";

        if (cases[i].ipv)
            snprintf(ipv, sizeof(ipv), ", \"ip_version\": \"%s\"",
                     cases[i].ipv);
        snprintf(json, sizeof(json),
                 "{\"listeners\": [{\"name\": \"x\", \"listen\": \"%s\","
                 " \"plugin\": \"p\"%s}]}",
                 cases[i].listen, ipv);
        cfg = parse_ok(json);
        assert_int_equal(cfg->listeners[0].addr.ss_family, cases[i].family);
        assert_int_equal(cfg->listeners[0].addrlen,
                         cases[i].family == AF_INET
                             ? sizeof(struct sockaddr_in)
                             : sizeof(struct sockaddr_in6));
        assert_string_equal(cfg->listeners[0].listen, cases[i].listen);
        check_addr(&cfg->listeners[0], cases[i].want);
        zg_config_free(cfg);
    }

    /* Not conflicts: ephemeral ports, different ports, v6-only [::]. */
    zg_config_free(parse_ok(
        "{\"listeners\": ["
        "{\"name\": \"a\", \"listen\": \"127.0.0.1:0\", \"plugin\": \"p\"},"
        "{\"name\": \"b\", \"listen\": \"127.0.0.1:0\", \"plugin\": \"p\"},"
        "{\"name\": \"c\", \"listen\": \"*:0\", \"plugin\": \"p\"},"
        "{\"name\": \"d\", \"listen\": \"127.0.0.1:1\", \"plugin\": \"p\"},"
        "{\"name\": \"e\", \"listen\": \"127.0.0.2:1\", \"plugin\": \"p\"},"
        "{\"name\": \"f\", \"listen\": \"[::]:1\", \"plugin\": \"p\","
        " \"ip_version\": \"v6\"},"
        "{\"name\": \"g\", \"listen\": \"[::1]:2\", \"plugin\": \"p\"},"
        "{\"name\": \"h\", \"listen\": \"127.0.0.1:2\", \"plugin\": \"p\"}"
        "]}"));
}

static void test_addr_format(void **state)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr sa;
    char buf[64];

    (void)state;
    memset(&in4, 0, sizeof(in4));
    in4.sin_family = AF_INET;
    in4.sin_port = htons(80);
    in4.sin_addr.s_addr = htonl(0x01020304);
    assert_int_equal(zg_addr_format((struct sockaddr *)&in4, buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "1.2.3.4:80");
    assert_int_equal(zg_addr_format((struct sockaddr *)&in4, buf, 11), 0);
    assert_int_equal(zg_addr_format((struct sockaddr *)&in4, buf, 10), -ENOSPC);

    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(65535);
    in6.sin6_addr = in6addr_loopback;
    assert_int_equal(zg_addr_format((struct sockaddr *)&in6, buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "[::1]:65535");

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(zg_addr_format(&sa, buf, sizeof(buf)), -EAFNOSUPPORT);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    check_err("{\"reactors\": 1,}",
              "t.json:1:16: syntax error: string or '}' expected near '}'");
    check_err("{\n  \"reactors\": 1\n",
              "t.json:3:1: syntax error: '}' expected near end of file");
    check_err("{\"a\": 1 \"b\": 2}",
              "t.json:1:11: syntax error: '}' expected near '\"b\"'");
    check_err("{\n  \"reactors\": tru\n}",
              "t.json:2:17: syntax error: invalid token near 'tru'");
    check_err("", "t.json:1:1: syntax error: '[' or '{' expected near end "
                  "of file");
    check_err("5", "t.json:1:1: syntax error: '[' or '{' expected near '5'");
    check_err("{} {}",
              "t.json:1:4: syntax error: end of file expected near '{'");
    check_err("{\"reactors\": 99999999999999999999}",
              "t.json:1:33: syntax error: too big integer near "
              "'99999999999999999999'");
    /* A raw newline inside a string. */
    check_err("{\"a\": \"x\ny\"}",
              "t.json:1:8: syntax error: unexpected newline near '\"x'");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    check_err("{\n  \"reactors\": 1,\n  \"reactors\": 2\n}",
              "t.json:3:3: duplicate key \"reactors\"");
    check_err("{\"listeners\": [{\"name\": \"a\", \"name\": \"b\"}]}",
              "t.json:1:30: listeners[0]: duplicate key \"name\"");
    check_err(
        "{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
        " \"plugin\": \"p\", \"config\": {\"x\": {\"y\": 1, \"y\": 2}}}]}",
        "t.json:1:87: listeners[0].config.x: duplicate key \"y\"");
    /* Escapes are decoded before keys are compared. */
    check_err("{\"log\": {\"level\": \"info\", \"\\u006cevel\": \"debug\"}}",
              "t.json:1:27: log: duplicate key \"level\"");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    check_err("{\"reactrs\": 1, " LST "}",
              "t.json:1:2: reactrs: unknown key (did you mean \"reactors\"?)");
    check_err("{\"foo\": 1, " LST "}", "t.json:1:2: foo: unknown key");
    check_err("{\"listners\": []}",
              "t.json:1:2: listners: unknown key (did you mean "
              "\"listeners\"?)");
    check_err("{\"acceptor\": {\"ring_entires\": 8}, " LST "}",
              "t.json:1:15: acceptor.ring_entires: unknown key (did you mean "
              "\"ring_entries\"?)");
    /* Until there is an access log, its key is not accepted silently. */
    check_err("{\"log\": {\"access_log\": \"off\"}, " LST "}",
              "t.json:1:10: log.access_log: unknown key");
    check_err("{\"log\": {\"lvl\": \"info\"}, " LST "}",
              "t.json:1:10: log.lvl: unknown key (did you mean \"level\"?)");
    check_err("{\"reactor\": {\"SQPOLL\": true}, " LST "}",
              "t.json:1:14: reactor.SQPOLL: unknown key (did you mean "
              "\"sqpoll\"?)");
    check_err("{\"reactor\": {\"id\": 1}, " LST "}",
              "t.json:1:14: reactor.id: unknown key");
    check_err("{\"listeners\": [{\"name\": \"a\",\n"
              "    \"lisen\": \"127.0.0.1:1\", \"plugin\": \"p\"}]}",
              "t.json:2:5: listeners[0].lisen: unknown key (did you mean "
              "\"listen\"?)");
    check_err("{\"reactors\": 2, \"reactor_overrides\": [{\"id\": 1},"
              " {\"idd\": 0}], " LST "}",
              "t.json:1:51: reactor_overrides[1].idd: unknown key (did you "
              "mean \"id\"?)");
    check_err("{\"reactor_overrides\": [{\"id\": 0,"
              " \"recv_buffer_sz\": 64}], " LST "}",
              "t.json:1:34: reactor_overrides[0].recv_buffer_sz: unknown key "
              "(did you mean \"recv_buffer_size\"?)");
    /* Columns count characters, not bytes, as jansson does. */
    check_err("{\"log\": {\"error_log\": \"/tmp/\xc3\xa9\", \"levl\": 1}, " LST
              "}",
              "t.json:1:33: log.levl: unknown key (did you mean \"level\"?)");
    /* A key with a control character still gives a one-line message. */
    check_err("{\"a\\nb\": 1}", "t.json:1:2: a?b: unknown key");
}

/* "reactors": "auto" is one per CPU of the affinity mask. */
static void test_reactors_auto(void **state)
{
    cpu_set_t set;
    zg_config_t *cfg;
    int want;

    (void)state;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    want = CPU_COUNT(&set);
    cfg = parse_ok("{\"reactors\": \"auto\", " LST "}");
    assert_int_equal(cfg->reactors, want > 256 ? 256 : want);
    zg_config_free(cfg);
    check_err("{\"reactors\": \"many\", " LST "}",
              "t.json:1:14: reactors: expected an integer 1..256 or "
              "\"auto\", got \"many\"");
}

static void test_wrong_types(void **state)
{
    (void)state;
    check_err("[1, 2]", "t.json:1:1: the configuration must be a JSON "
                        "object, got array");
    check_err("  []", "t.json:1:3: the configuration must be a JSON "
                      "object, got array");
    check_err("{\"reactors\": \"4\", " LST "}",
              "t.json:1:14: reactors: expected an integer 1..256 or \"auto\", "
              "got \"4\"");
    check_err("{\"reactors\": 1.5, " LST "}",
              "t.json:1:14: reactors: expected an integer, got real");
    check_err("{\"reactors\": null, " LST "}",
              "t.json:1:14: reactors: expected an integer, got null");
    check_err("{\"accept\": 1, " LST "}",
              "t.json:1:12: accept: expected a string, got integer");
    check_err("{\"acceptor\": [], " LST "}",
              "t.json:1:14: acceptor: expected an object, got array");
    check_err("{\"acceptor\": {\"sqpoll\": 1}, " LST "}",
              "t.json:1:25: acceptor.sqpoll: expected a boolean, got integer");
    check_err("{\"reactor\": true, " LST "}",
              "t.json:1:13: reactor: expected an object, got boolean");
    check_err("{\"reactor\": {\"cpu_affinity\": true}, " LST "}",
              "t.json:1:30: reactor.cpu_affinity: expected \"auto\", \"off\" "
              "or a CPU number, got boolean");
    check_err("{\"reactor\": {\"recv_bundle\": 1}, " LST "}",
              "t.json:1:29: reactor.recv_bundle: expected \"auto\", true or "
              "false, got integer");
    check_err("{\"reactor\": {\"incremental_buffers\": true, "
              "\"recv_bundle\": true}, " LST "}",
              "t.json:1:58: reactor.recv_bundle: true, but "
              "incremental_buffers is true too: recv bundles fill whole "
              "buffers, never incrementally consumed ones; set one of them "
              "to \"auto\" or false");
    check_err("{\"reactors\": 2, \"reactor\": {\"recv_bundle\": true}, "
              "\"reactor_overrides\": [{\"id\": 1, "
              "\"incremental_buffers\": true}], " LST "}",
              "t.json:1:106: reactor_overrides[0].incremental_buffers: true, "
              "but recv_bundle is true too: recv bundles fill whole buffers, "
              "never incrementally consumed ones; set one of them to "
              "\"auto\" or false");
    check_err("{\"reactor_overrides\": {}, " LST "}",
              "t.json:1:23: reactor_overrides: expected an array, got object");
    check_err("{\"reactor_overrides\": [3], " LST "}",
              "t.json:1:24: reactor_overrides[0]: expected an object, got "
              "integer");
    check_err("{\"reactor_overrides\": [{\"id\": \"0\"}], " LST "}",
              "t.json:1:31: reactor_overrides[0].id: expected an integer, "
              "got string");
    check_err("{\"log\": {\"level\": 3}, " LST "}",
              "t.json:1:19: log.level: expected a string, got integer");
    check_err("{\"log\": [], " LST "}",
              "t.json:1:9: log: expected an object, got array");
    check_err("{\"shutdown_timeout_ms\": false, " LST "}",
              "t.json:1:25: shutdown_timeout_ms: expected an integer, got "
              "boolean");
    check_err("{\"listeners\": {}}",
              "t.json:1:15: listeners: expected an array, got object");
    check_err("{\"listeners\": [\"a\"]}",
              "t.json:1:16: listeners[0]: expected an object, got string");
    check_err("{\"listeners\": [{\"name\": 1, \"listen\": \"*:1\","
              " \"plugin\": \"p\"}]}",
              "t.json:1:25: listeners[0].name: expected a string, got "
              "integer");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": [],"
              " \"plugin\": \"p\"}]}",
              "t.json:1:40: listeners[0].listen: expected a string, got "
              "array");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"config\": [1]}]}",
              "t.json:1:72: listeners[0].config: expected an object, got "
              "array");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"config\": \"{}\"}]}",
              "t.json:1:72: listeners[0].config: expected an object, got "
              "string");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"tcp_nodelay\": \"yes\"}]}",
              "t.json:1:77: listeners[0].tcp_nodelay: expected a boolean, "
              "got string");
}

static void test_bad_values(void **state)
{
    (void)state;
    check_err("{\"accept\": \"epoll\", " LST "}",
              "t.json:1:12: accept: \"epoll\" is not one of \"auto\", "
              "\"acceptor\", \"reuseport\"");
    check_err("{\"log\": {\"level\": \"verbose\"}, " LST "}",
              "t.json:1:19: log.level: \"verbose\" is not one of \"debug\", "
              "\"info\", \"notice\", \"warn\", \"error\", \"crit\", "
              "\"alert\", \"emerg\"");
    check_err("{\"log\": {\"error_log\": \"\"}, " LST "}",
              "t.json:1:23: log.error_log: must not be empty");
    check_err("{\"reactor\": {\"cpu_affinity\": \"on\"}, " LST "}",
              "t.json:1:30: reactor.cpu_affinity: \"on\" is not one of "
              "\"auto\", \"off\" or a CPU number");
    check_err("{\"reactor\": {\"incremental_buffers\": \"no\"}, " LST "}",
              "t.json:1:37: reactor.incremental_buffers: \"no\" is not one "
              "of \"auto\", true, false");
    check_err("{\"reactor\": {\"recv_buffer_size\": 100}, " LST "}",
              "t.json:1:34: reactor.recv_buffer_size: 100 is not a multiple "
              "of 64");
    check_err("{\"reactor\": {\"buffer_ring_entries\": 1000}, " LST "}",
              "t.json:1:37: reactor.buffer_ring_entries: 1000 is not a power "
              "of 2");
    check_err("{\"reactor_overrides\": [{\"id\": 0,"
              " \"buffer_ring_entries\": 3}], " LST "}",
              "t.json:1:57: reactor_overrides[0].buffer_ring_entries: 3 is "
              "not a power of 2");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"\"}]}",
              "t.json:1:57: listeners[0].plugin: must not be empty");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"ip_version\": \"v5\"}]}",
              "t.json:1:76: listeners[0].ip_version: \"v5\" is not one of "
              "\"dual\", \"v4\", \"v6\"");
}

static void test_ranges(void **state)
{
    (void)state;
    check_err("{\"reactors\": 0, " LST "}",
              "t.json:1:14: reactors: 0 is out of range 1..256");
    check_err("{\"reactors\": 257, " LST "}",
              "t.json:1:14: reactors: 257 is out of range 1..256");
    check_err("{\"reactors\":\n\n       -1, " LST "}",
              "t.json:3:8: reactors: -1 is out of range 1..256");
    check_err("{\"acceptor\": {\"ring_entries\": 1}, " LST "}",
              "t.json:1:31: acceptor.ring_entries: 1 is out of range "
              "2..32768");
    check_err("{\"acceptor\": {\"batch\": 65537}, " LST "}",
              "t.json:1:24: acceptor.batch: 65537 is out of range 1..65536");
    check_err("{\"acceptor\": {\"sq_cpu\": -2}, " LST "}",
              "t.json:1:25: acceptor.sq_cpu: -2 is out of range -1..1023");
    check_err("{\"acceptor\": {\"cq_timeout_us\": 10000001}, " LST "}",
              "t.json:1:32: acceptor.cq_timeout_us: 10000001 is out of range "
              "0..10000000");
    check_err("{\"reactor\": {\"recv_buffer_size\": 0}, " LST "}",
              "t.json:1:34: reactor.recv_buffer_size: 0 is out of range "
              "64..1048576");
    check_err("{\"reactor\": {\"buffer_ring_entries\": 65536}, " LST "}",
              "t.json:1:37: reactor.buffer_ring_entries: 65536 is out of "
              "range 1..32768");
    check_err("{\"reactor\": {\"sq_idle_ms\": 60001}, " LST "}",
              "t.json:1:28: reactor.sq_idle_ms: 60001 is out of range "
              "0..60000");
    check_err("{\"reactor\": {\"cpu_affinity\": -1}, " LST "}",
              "t.json:1:30: reactor.cpu_affinity: -1 is out of range "
              "0..1023");
    check_err("{\"reactor\": {\"cpu_affinity\": 1024}, " LST "}",
              "t.json:1:30: reactor.cpu_affinity: 1024 is out of range "
              "0..1023");
    check_err("{\"shutdown_timeout_ms\": 3600001, " LST "}",
              "t.json:1:25: shutdown_timeout_ms: 3600001 is out of range "
              "0..3600000");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"backlog\": 0}]}",
              "t.json:1:73: listeners[0].backlog: 0 is out of range "
              "1..1048576");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"max_held_bytes\": 1023}]}",
              "t.json:1:80: listeners[0].max_held_bytes: 1023 is out of range "
              "1024..1073741824");
    /* The low watermark must sit below the high one. */
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"write_high_watermark\": 4096,"
              " \"write_low_watermark\": 4096}]}",
              "t.json:1:115: listeners[0].write_low_watermark: 4096 must be "
              "below write_high_watermark (4096)");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"write_high_watermark\": 2048}]}",
              "t.json: listeners[0].write_low_watermark: 262144 must be "
              "below write_high_watermark (2048)");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"idle_timeout_ms\": 86400001}]}",
              "t.json:1:81: listeners[0].idle_timeout_ms: 86400001 is out of "
              "range 0..86400000");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"linger_ms\": 600001}]}",
              "t.json:1:75: listeners[0].linger_ms: 600001 is out of "
              "range 0..600000");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\","
              " \"plugin\": \"p\", \"max_connections\": 0}]}",
              "t.json:1:81: listeners[0].max_connections: 0 is out of range "
              "1..10000000");
}

static void test_missing(void **state)
{
    (void)state;
    check_err("{}", "t.json:1:1: missing required key \"listeners\"");
    check_err("\n {\"reactors\": 2}",
              "t.json:2:2: missing required key \"listeners\"");
    check_err("{\"listeners\": [{\"listen\": \"*:1\", \"plugin\": \"p\"}]}",
              "t.json:1:16: listeners[0]: missing required key \"name\"");
    check_err("{\"listeners\": [\n  {\"name\": \"a\", \"plugin\": \"p\"}]}",
              "t.json:2:3: listeners[0]: missing required key \"listen\"");
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"*:1\"}]}",
              "t.json:1:16: listeners[0]: missing required key \"plugin\"");
    check_err("{\"reactor_overrides\": [{\"sqpoll\": true}], " LST "}",
              "t.json:1:24: reactor_overrides[0]: missing required key "
              "\"id\"");
}

static void test_listeners_count(void **state)
{
    char json[8192];
    size_t n = 0;

    (void)state;
    check_err("{\"listeners\": []}",
              "t.json:1:15: listeners: expected 1..64 listeners, got 0");
    n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"listeners\": [");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n,
                              "%s{\"name\": \"l%d\", \"listen\": "
                              "\"127.0.0.1:%d\", \"plugin\": \"p\"}",
                              i ? "," : "", i, 1000 + i);
    snprintf(json + n, sizeof(json) - n, "]}");
    check_err(json, "t.json:1:15: listeners: expected 1..64 listeners, got 65");

    /* Exactly 64 is fine. */
    n = (size_t)snprintf(json, sizeof(json), "{\"listeners\": [");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n,
                              "%s{\"name\": \"l%d\", \"listen\": "
                              "\"127.0.0.1:%d\", \"plugin\": \"p\"}",
                              i ? "," : "", i, 1000 + i);
    snprintf(json + n, sizeof(json) - n, "]}");
    {
        zg_config_t *cfg = parse_ok(json);

        assert_int_equal(cfg->nlisteners, 64);
        assert_string_equal(cfg->listeners[63].name, "l63");
        zg_config_free(cfg);
    }
}

static void test_names(void **state)
{
    (void)state;
    check_err("{\"listeners\": [{\"name\": \"a b\", \"listen\": \"*:1\","
              " \"plugin\": \"p\"}]}",
              "t.json:1:25: listeners[0].name: \"a b\" is not a valid name "
              "(1 to 64 of A-Z a-z 0-9 _ . -)");
    check_err("{\"listeners\": [{\"name\": \"\", \"listen\": \"*:1\","
              " \"plugin\": \"p\"}]}",
              "t.json:1:25: listeners[0].name: must not be empty");
    check_err("{\"listeners\": [{\"name\": "
              "\"a123456789b123456789c123456789d123456789e123456789f1234567"
              "89g1234\", \"listen\": \"*:1\", \"plugin\": \"p\"}]}",
              "t.json:1:25: listeners[0].name: "
              "\"a123456789b123456789c123456789d123456789e123456789f1234567"
              "89g1234\" is not a valid name (1 to 64 of A-Z a-z 0-9 _ . -)");
    check_err(
        "{\"listeners\": [\n"
        "  {\"name\": \"echo\", \"listen\": \"*:1\", \"plugin\": \"p\"},\n"
        "  {\"name\": \"echo\", \"listen\": \"*:2\", \"plugin\": \"p\"}]}",
        "t.json:3:12: listeners[1].name: duplicate listener name "
        "\"echo\" (also listeners[0])");
}

static void test_listen_errors(void **state)
{
    static const struct {
        const char *listen, *why;
    } cases[] = {
        {"127.0.0.1", "expected host:port"},
        {"127.0.0.1:", "port must be a number 0..65535"},
        {"127.0.0.1:65536", "port must be a number 0..65535"},
        {"127.0.0.1:123456", "port must be a number 0..65535"},
        {"127.0.0.1:80x", "port must be a number 0..65535"},
        {"127.0.0.1:-1", "port must be a number 0..65535"},
        {"127.0.0.1: 80", "port must be a number 0..65535"},
        {"::1:80", "an IPv6 address must be in brackets, as in [::1]:80"},
        {"[::1:80", "missing ']'"},
        {"[::1]80", "expected [IPv6]:port"},
        {"[::1]", "expected [IPv6]:port"},
        {"[::g]:80", "invalid IPv6 address"},
        {"[]:80", "invalid IPv6 address"},
        {"[1.2.3.4]:80", "invalid IPv6 address"},
        {"example.com:80", "host must be an IPv4 address, [IPv6], * or "
                           "localhost"},
        {"1.2.3:80", "host must be an IPv4 address, [IPv6], * or localhost"},
        {"256.1.1.1:80", "host must be an IPv4 address, [IPv6], * or "
                         "localhost"},
        {":80", "host must be an IPv4 address, [IPv6], * or localhost"},
        {"**:80", "host must be an IPv4 address, [IPv6], * or localhost"},
    };
    char json[512], want[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"listeners\": [{\"name\": \"a\", \"listen\": \"%s\","
                 " \"plugin\": \"p\"}]}",
                 cases[i].listen);
        snprintf(want, sizeof(want),
                 "t.json:1:40: listeners[0].listen: bad address \"%s\": %s",
                 cases[i].listen, cases[i].why);
        check_err(json, want);
    }
}

static void test_ip_version_mismatch(void **state)
{
    (void)state;
    check_err("{\"listeners\": [{\"name\": \"a\", \"listen\": \"[::1]:80\","
              " \"ip_version\": \"v4\", \"plugin\": \"p\"}]}",
              "t.json:1:66: listeners[0].ip_version: \"v4\" does not match "
              "listen address \"[::1]:80\"");
    check_err("{\"listeners\": [{\"ip_version\": \"v6\", \"name\": \"a\","
              " \"listen\": \"127.0.0.1:80\", \"plugin\": \"p\"}]}",
              "t.json:1:31: listeners[0].ip_version: \"v6\" does not match "
              "listen address \"127.0.0.1:80\"");
}

static void test_duplicate_address(void **state)
{
    (void)state;
    check_err("{\"listeners\": [\n"
              "  {\"name\": \"a\", \"listen\": \"127.0.0.1:7000\","
              " \"plugin\": \"p\"},\n"
              "  {\"name\": \"b\", \"listen\": \"127.0.0.1:7000\","
              " \"plugin\": \"p\"}]}",
              "t.json:3:27: listeners[1].listen: 127.0.0.1:7000 conflicts "
              "with listener \"a\" (127.0.0.1:7000)");
    check_err(
        "{\"listeners\": [\n"
        "  {\"name\": \"a\", \"listen\": \"127.0.0.1:80\","
        " \"plugin\": \"p\"},\n"
        "  {\"name\": \"b\", \"listen\": \"*:80\", \"ip_version\": \"v4\","
        " \"plugin\": \"p\"}]}",
        "t.json:3:27: listeners[1].listen: 0.0.0.0:80 conflicts with "
        "listener \"a\" (127.0.0.1:80)");
    check_err("{\"listeners\": [\n"
              "  {\"name\": \"a\", \"listen\": \"*:80\", \"plugin\": \"p\"},\n"
              "  {\"name\": \"b\", \"listen\": \"10.1.2.3:80\","
              " \"plugin\": \"p\"}]}",
              "t.json:3:27: listeners[1].listen: 10.1.2.3:80 conflicts with "
              "listener \"a\" ([::]:80)");
    check_err(
        "{\"listeners\": [\n"
        "  {\"name\": \"a\", \"listen\": \"[::1]:80\", \"plugin\": \"p\"},\n"
        "  {\"name\": \"b\", \"listen\": \"[0::1]:80\","
        " \"plugin\": \"p\"}]}",
        "t.json:3:27: listeners[1].listen: [::1]:80 conflicts with "
        "listener \"a\" ([::1]:80)");
    check_err("{\"listeners\": [\n"
              "  {\"name\": \"a\", \"listen\": \"localhost:9\","
              " \"plugin\": \"p\"},\n"
              "  {\"name\": \"b\", \"listen\": \"127.0.0.1:9\","
              " \"plugin\": \"p\"}]}",
              "t.json:3:27: listeners[1].listen: 127.0.0.1:9 conflicts with "
              "listener \"a\" (127.0.0.1:9)");
}

static void test_override_errors(void **state)
{
    (void)state;
    check_err("{\"reactors\": 2, \"reactor_overrides\": [{\"id\": 2}], " LST
              "}",
              "t.json:1:46: reactor_overrides[0].id: 2 is out of range 0..1 "
              "(reactors is 2)");
    check_err("{\"reactor_overrides\": [{\"id\": -1}], " LST "}",
              "t.json:1:31: reactor_overrides[0].id: -1 is out of range 0..0 "
              "(reactors is 1)");
    check_err("{\"reactors\": 3, \"reactor_overrides\": [{\"id\": 1},\n"
              "    {\"id\": 1}], " LST "}",
              "t.json:2:12: reactor_overrides[1].id: reactor 1 is already "
              "overridden by reactor_overrides[0]");
    check_err("{\"reactor_overrides\": [{\"id\": 0,"
              " \"max_connections\": 0}], " LST "}",
              "t.json:1:53: reactor_overrides[0].max_connections: 0 is out "
              "of range 1..1048576");
}

static void test_escaped_positions(void **state)
{
    (void)state;
    /* "\u0072eactors" is "reactors": the value is still found. */
    check_err("{\"\\u0072eactors\": \"x\", " LST "}",
              "t.json:1:19: reactors: expected an integer 1..256 or \"auto\", "
              "got \"x\"");
    /* Keys and values with escaped quotes and brackets before the error. */
    check_err("{\"log\": {\"error_log\": \"a\\\"]}[{,:\", \"level\": 1}, " LST
              "}",
              "t.json:1:45: log.level: expected a string, got integer");
    /* A surrogate pair in a key. */
    check_err("{\"\\ud83d\\ude00\": 1, " LST "}",
              "t.json:1:2: \xf0\x9f\x98\x80: unknown key");
}

static void test_errbuf(void **state)
{
    const char *bad = "{\"reactors\": 0, " LST "}";
    zg_config_t *cfg;
    char err[8];

    (void)state;
    assert_int_equal(zg_config_parse(bad, strlen(bad), "t.json", &cfg, NULL, 0),
                     -EINVAL);
    assert_null(cfg);
    assert_int_equal(zg_config_parse("{", 1, "t.json", &cfg, NULL, 0), -EINVAL);
    assert_int_equal(
        zg_config_parse(bad, strlen(bad), "t.json", &cfg, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "t.json:");
    /* Text need not be NUL-terminated: only len bytes are read. */
    assert_int_equal(
        zg_config_parse("{\"reactors\": 0}xx", 15, "t.json", &cfg, NULL, 0),
        -EINVAL);
}

static void test_load(void **state)
{
    char path[] = "/tmp/zg_test_config_XXXXXX";
    const char *bad = "{\n  \"reactors\": \"two\",\n  " LST "\n}\n";
    zg_config_t *cfg;
    char err[512];
    int fd;

    (void)state;
    assert_int_equal(zg_config_load("conf/zerg.json", &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg->path, "conf/zerg.json");
    assert_int_equal(cfg->nlisteners, 2);
    zg_config_free(cfg);

    assert_int_equal(
        zg_config_load("/nonexistent/zerg.json", &cfg, err, sizeof(err)),
        -ENOENT);
    assert_null(cfg);
    assert_string_equal(err, "/nonexistent/zerg.json: cannot read: No such "
                             "file or directory");
    assert_int_equal(zg_config_load("conf", &cfg, err, sizeof(err)), -EISDIR);
    assert_string_equal(err, "conf: cannot read: Is a directory");

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    assert_int_equal(zg_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
    assert_null(cfg);
    {
        char want[128];

        snprintf(want, sizeof(want),
                 "%s:2:15: reactors: expected an integer 1..256 or \"auto\", "
                 "got \"two\"",
                 path);
        assert_string_equal(err, want);
    }
    unlink(path);
}

/* Relative plugin paths in a file are relative to the file's directory;
 * names and absolute paths are kept as written. */
static void test_load_plugin_paths(void **state)
{
    char dir[] = "/tmp/zg_test_config_XXXXXX", real[PATH_MAX];
    char path[PATH_MAX], want[PATH_MAX + 16];
    const char *text = "{\"listeners\": ["
                       "{\"name\": \"a\", \"listen\": \"127.0.0.1:1\", "
                       "\"plugin\": \"./p/x.so\"},"
                       "{\"name\": \"b\", \"listen\": \"127.0.0.1:2\", "
                       "\"plugin\": \"q/y.so\"},"
                       "{\"name\": \"c\", \"listen\": \"127.0.0.1:3\", "
                       "\"plugin\": \"echo.so\"},"
                       "{\"name\": \"d\", \"listen\": \"127.0.0.1:4\", "
                       "\"plugin\": \"/abs/z.so\"}"
                       "]}";
    zg_config_t *cfg;
    char err[512];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_non_null(realpath(dir, real));
    snprintf(path, sizeof(path), "%s/zerg.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);

    assert_int_equal(zg_config_load(path, &cfg, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/p/x.so", real);
    assert_string_equal(cfg->listeners[0].plugin, want);
    snprintf(want, sizeof(want), "%s/q/y.so", real);
    assert_string_equal(cfg->listeners[1].plugin, want);
    assert_string_equal(cfg->listeners[2].plugin, "echo.so");
    assert_string_equal(cfg->listeners[3].plugin, "/abs/z.so");
    zg_config_free(cfg);

    /* Parsing text alone has no file: nothing is rewritten. */
    assert_int_equal(
        zg_config_parse(text, strlen(text), "t.json", &cfg, err, sizeof(err)),
        0);
    assert_string_equal(cfg->listeners[0].plugin, "./p/x.so");
    zg_config_free(cfg);
    unlink(path);
    rmdir(dir);
}

/* The scanner must never read outside its text, whatever it is given:
 * every prefix of a real config, and a few broken shapes. Run under
 * valgrind or ASan this catches over-reads. */
static void test_scanner_robust(void **state)
{
    static const char *const broken[] = {
        "{\"a",
        "{\"a\\",
        "{\"a\":",
        "[",
        "[1,",
        "{\"a\":[1,{\"b\"",
        "}",
        "]",
        ",",
        "\"\\u12",
        "\"\\ud800\\u",
        "{\"a\":1,}",
        "{:}",
        "",
    };
    zg_conf_comp_t path[3] = {{"listeners", 0}, {NULL, 1}, {"plugin", 0}};
    size_t len = strlen(full_json);

    (void)state;
    for (size_t n = 0; n <= len; n++) {
        char *copy = malloc(n ? n : 1);
        zg_conf_ctx_t c;
        zg_conf_comp_t dpath[ZG_SCAN_DEPTH];
        zg_scan_t sc;
        char err[256];

        assert_non_null(copy);
        memcpy(copy, full_json, n);
        for (int d = 0; d <= 3; d++) {
            size_t off = zg_conf_find(copy, n, path, d, d & 1);

            assert_true(off == ZG_NOPOS || off < n);
        }
        memset(&c, 0, sizeof(c));
        c.text = copy;
        c.len = n;
        c.file = "t";
        c.err = err;
        c.errlen = sizeof(err);
        sc.s = copy;
        sc.len = n;
        sc.pos = 0;
        assert_true(scan_dups(&c, &sc, dpath, 0) <= 0);
        free(copy);
    }
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        size_t n = strlen(broken[i]);
        char *copy = malloc(n ? n : 1);
        zg_scan_t sc;

        assert_non_null(copy);
        memcpy(copy, broken[i], n);
        sc.s = copy;
        sc.len = n;
        sc.pos = 0;
        (void)scan_skip(&sc);
        assert_true(sc.pos <= n + 1);
        assert_true(zg_conf_find(copy, n, path, 2, 0) == ZG_NOPOS ||
                    zg_conf_find(copy, n, path, 2, 0) < n);
        free(copy);
    }
    /* The full config has no duplicates and its keys are all found. */
    {
        zg_conf_ctx_t c;
        zg_conf_comp_t dpath[ZG_SCAN_DEPTH];
        zg_scan_t sc = {full_json, len, 0};
        int line, col;
        size_t off;

        memset(&c, 0, sizeof(c));
        c.text = full_json;
        c.len = len;
        c.file = "t";
        assert_int_equal(scan_dups(&c, &sc, dpath, 0), 0);
        off = zg_conf_find(full_json, len, path, 3, 0);
        assert_true(off != ZG_NOPOS);
        zg_conf_linecol(full_json, off, &line, &col);
        assert_int_equal(line, 35);
        assert_int_equal(col, 41);
        assert_true(zg_conf_find(full_json, len, path, 3, 1) < off);
    }
}

static void test_suggest(void **state)
{
    (void)state;
    assert_string_equal(zg_conf_suggest("lisen", zg_listener_keys, NULL),
                        "listen");
    assert_string_equal(zg_conf_suggest("Listen", zg_listener_keys, NULL),
                        "listen");
    assert_string_equal(zg_conf_suggest("ring_entires", zg_reactor_keys, NULL),
                        "ring_entries");
    assert_string_equal(zg_conf_suggest("reactor_override", zg_top_keys, NULL),
                        "reactor_overrides");
    assert_null(zg_conf_suggest("zzz", zg_top_keys, NULL));
    assert_null(zg_conf_suggest("x", zg_override_keys, NULL));
    assert_int_equal(zg_conf_distance("kitten", "sitting"), 3);
    assert_int_equal(zg_conf_distance("", "abc"), 3);
    assert_int_equal(zg_conf_distance("abc", "abc"), 0);
}

/* The schema object describing one section of the config. */
static json_t *schema_at(json_t *schema, const char *where)
{
    json_t *props = json_object_get(schema, "properties");
    json_t *defs = json_object_get(schema, "$defs");

    if (*where == '\0')
        return schema;
    if (strcmp(where, "override") == 0)
        return json_object_get(json_object_get(props, "reactor_overrides"),
                               "items");
    if (json_object_get(defs, where))
        return json_object_get(defs, where);
    return json_object_get(props, where);
}

/* conf/zerg.schema.json documents exactly the keys the loader accepts. */
static void check_schema_keys(json_t *schema, const char *where,
                              const char *const *keys, const char *extra)
{
    json_t *props = json_object_get(schema_at(schema, where), "properties");
    size_t n = 0;

    if (!props)
        print_error("schema: no properties at %s\n", where);
    assert_non_null(props);
    for (const char *const *k = keys; *k; k++, n++) {
        if (!json_object_get(props, *k))
            print_error("schema: %s lacks \"%s\"\n", where, *k);
        assert_non_null(json_object_get(props, *k));
    }
    if (extra) {
        assert_non_null(json_object_get(props, extra));
        n++;
    }
    assert_int_equal(json_object_size(props), n);
}

static void test_schema_in_sync(void **state)
{
    json_error_t je;
    json_t *schema =
        json_load_file("conf/zerg.schema.json", JSON_REJECT_DUPLICATES, &je);

    (void)state;
    if (!schema)
        print_error("conf/zerg.schema.json:%d:%d: %s\n", je.line, je.column,
                    je.text);
    assert_non_null(schema);
    check_schema_keys(schema, "", zg_top_keys, NULL);
    check_schema_keys(schema, "acceptor", zg_acceptor_keys, NULL);
    check_schema_keys(schema, "log", zg_log_keys, NULL);
    check_schema_keys(schema, "reactor_keys", zg_reactor_keys, NULL);
    check_schema_keys(schema, "override", zg_override_keys, NULL);
    check_schema_keys(schema, "listener", zg_listener_keys, NULL);
    json_decref(schema);
}

/* Every key of keys[] is in obj (skip: one key that may be absent). */
static void check_dump_keys(json_t *obj, const char *where,
                            const char *const *keys, const char *skip)
{
    assert_non_null(obj);
    for (const char *const *k = keys; *k; k++) {
        if (skip && strcmp(*k, skip) == 0)
            continue;
        if (!json_object_get(obj, *k))
            print_error("dump: %s lacks \"%s\"\n", where, *k);
        assert_non_null(json_object_get(obj, *k));
    }
}

/* zg_config_dump writes every key the loader knows, and its text parses
 * back into the same configuration (and dumps to the same text). */
static void test_dump_round_trip(void **state)
{
    zg_config_t *cfg = parse_ok(full_json), *again;
    char *text, *text2, err[512];
    json_t *root, *l0;

    (void)state;
    text = zg_config_dump(cfg);
    assert_non_null(text);
    root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(root);
    check_dump_keys(root, "top", zg_top_keys, "reactor_overrides");
    check_dump_keys(json_object_get(root, "acceptor"), "acceptor",
                    zg_acceptor_keys, NULL);
    check_dump_keys(json_object_get(root, "reactor"), "reactor",
                    zg_reactor_keys, NULL);
    check_dump_keys(json_object_get(root, "log"), "log", zg_log_keys, NULL);
    for (size_t i = 0; i < 2; i++)
        check_dump_keys(json_array_get(json_object_get(root, "listeners"), i),
                        "listener", zg_listener_keys, NULL);
    /* Only reactor 2 differs from reactor 0, in two keys. */
    assert_int_equal(
        json_array_size(json_object_get(root, "reactor_overrides")), 1);
    assert_int_equal(json_object_size(json_array_get(
                         json_object_get(root, "reactor_overrides"), 0)),
                     3);
    /* The plugin's config object as given, not as text. */
    l0 = json_array_get(json_object_get(root, "listeners"), 0);
    assert_true(json_is_object(json_object_get(l0, "config")));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(l0, "config"), "root")),
                        "/srv");
    assert_string_equal(json_string_value(json_object_get(root, "accept")),
                        "reuseport");
    json_decref(root);

    assert_int_equal(
        zg_config_parse(text, strlen(text), "dump", &again, err, sizeof(err)),
        0);
    assert_int_equal(again->reactors, cfg->reactors);
    assert_int_equal(again->accept, cfg->accept);
    assert_memory_equal(&again->acceptor, &cfg->acceptor,
                        sizeof(cfg->acceptor));
    assert_memory_equal(again->reactor, cfg->reactor, sizeof(cfg->reactor));
    assert_int_equal(again->log.level, cfg->log.level);
    assert_string_equal(again->log.error_log, cfg->log.error_log);
    assert_int_equal(again->shutdown_timeout_ms, cfg->shutdown_timeout_ms);
    assert_int_equal(again->nlisteners, cfg->nlisteners);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const zg_listener_conf_t *a = &cfg->listeners[i];
        const zg_listener_conf_t *b = &again->listeners[i];

        assert_string_equal(a->name, b->name);
        assert_string_equal(a->listen, b->listen);
        assert_string_equal(a->plugin, b->plugin);
        assert_string_equal(a->plugin_config, b->plugin_config);
        assert_int_equal(a->ip_version, b->ip_version);
        assert_int_equal(a->backlog, b->backlog);
        assert_int_equal(a->idle_timeout_ms, b->idle_timeout_ms);
        assert_int_equal(a->max_connections, b->max_connections);
        assert_int_equal(a->max_held_bytes, b->max_held_bytes);
        assert_int_equal(a->tcp_nodelay, b->tcp_nodelay);
        assert_int_equal(a->write_high_watermark, b->write_high_watermark);
        assert_int_equal(a->write_low_watermark, b->write_low_watermark);
    }
    text2 = zg_config_dump(again);
    assert_non_null(text2);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    zg_config_free(again);
    zg_config_free(cfg);
}

/* The defaults the code fills in are the ones the schema documents. */
static void test_dump_defaults_match_schema(void **state)
{
    static const struct {
        const char *where;     /* schema section */
        const char *dump_path; /* object of the dump ("" = root) */
    } sections[] = {{"", ""},
                    {"acceptor", "acceptor"},
                    {"reactor_keys", "reactor"},
                    {"log", "log"},
                    {"listener", "listener"}};
    zg_config_t *cfg = parse_ok("{" LST "}");
    json_t *schema = json_load_file("conf/zerg.schema.json", 0, NULL);
    json_t *defs = json_object_get(schema, "$defs");
    char *text = zg_config_dump(cfg);
    json_t *dump = json_loads(text, 0, NULL);

    (void)state;
    assert_non_null(schema);
    assert_non_null(dump);
    for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
        json_t *props =
            json_object_get(schema_at(schema, sections[s].where), "properties");
        json_t *got = *sections[s].dump_path == '\0'
                          ? dump
                          : json_object_get(dump, sections[s].dump_path);
        const char *key;
        json_t *prop;

        if (strcmp(sections[s].dump_path, "listener") == 0)
            got = json_array_get(json_object_get(dump, "listeners"), 0);
        assert_non_null(props);
        assert_non_null(got);
        json_object_foreach(props, key, prop)
        {
            json_t *def = json_object_get(prop, "default");
            const char *ref = json_string_value(json_object_get(prop, "$ref"));

            if (!def && ref && strncmp(ref, "#/$defs/", 8) == 0)
                def =
                    json_object_get(json_object_get(defs, ref + 8), "default");
            if (!def)
                continue;
            if (strcmp(key, "accept") == 0) {
                /* The dump shows "auto" resolved; the code's default is
                 * auto all the same. */
                assert_string_equal(json_string_value(def), "auto");
                assert_string_equal(conf_name_of(zg_accept_names,
                                                 zg_accept_values,
                                                 ZG_ACCEPT_AUTO),
                                    "auto");
                continue;
            }
            if (!json_equal(def, json_object_get(got, key))) {
                char *a = json_dumps(def, JSON_ENCODE_ANY);
                char *b =
                    json_dumps(json_object_get(got, key), JSON_ENCODE_ANY);

                print_error("schema %s.%s default %s, code %s\n",
                            sections[s].where, key, a, b ? b : "(absent)");
                free(a);
                free(b);
                fail();
            }
        }
    }
    json_decref(dump);
    json_decref(schema);
    free(text);
    zg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_default_matches_file),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_listen_ok),
        cmocka_unit_test(test_addr_format),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_reactors_auto),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_listeners_count),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_ip_version_mismatch),
        cmocka_unit_test(test_duplicate_address),
        cmocka_unit_test(test_override_errors),
        cmocka_unit_test(test_escaped_positions),
        cmocka_unit_test(test_errbuf),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_plugin_paths),
        cmocka_unit_test(test_scanner_robust),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_schema_in_sync),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_dump_defaults_match_schema),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
