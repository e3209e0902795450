/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the JSON configuration loader
 * (zg_config_parse in core/config.c, with core/conf_ctx.c). Input: the
 * text of a configuration file, in a heap block of exactly its size (it is
 * not NUL-terminated, as the loader allows). Oracles: the result is 0 with
 * a configuration or -EINVAL without one; a refusal is one non-empty line
 * "fuzz.json:LINE:COL: ..." (or "fuzz.json: ..." where no position is
 * known) whose position lies inside the input and, unless jansson placed
 * it (a syntax error), on the first character of a value or a key; the
 * parse is a pure function of the text (a second run agrees on the result,
 * the message, every field and the dump); an accepted configuration keeps
 * every value within the range config.h documents, and each "config"
 * object's text is its node's; and its dump is a configuration that parses
 * back to the same values and dumps to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/conf_ctx.c"
#include "../../core/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_PATH   "fuzz.json"
#define FZ_ERRLEN 1024
#define FZ_MAX    65536 /* longest input driven */

static _Noreturn void fz_fail(const char *what, const char *detail, size_t n)
{
    fprintf(stderr, "fuzz_config: %s (input %zu bytes)%s%s\n", what, n,
            detail ? ": " : "", detail ? detail : "");
    abort();
}

/* Both NULL, or both strings with the same bytes. */
static int fz_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* The characters of line `line` (1-based) of s, counted as both jansson
 * and zg_conf_linecol count them: every byte but UTF-8 continuation
 * bytes. A line past the end has none. */
static long fz_line_chars(const char *s, size_t n, long line)
{
    long l = 1, chars = 0;

    for (size_t i = 0; i < n && l <= line; i++) {
        if (s[i] == '\n')
            l++;
        else if (l == line && ((unsigned char)s[i] & 0xc0) != 0x80)
            chars++;
    }
    return chars;
}

/* The byte at line:col (1-based, counted as above), or -1 past the end. */
static int fz_byte_at(const char *s, size_t n, long line, long col)
{
    long l = 1, c = 0;

    for (size_t i = 0; i < n; i++) {
        if (l == line && ((unsigned char)s[i] & 0xc0) != 0x80 && ++c == col)
            return (unsigned char)s[i];
        if (s[i] == '\n')
            l++;
    }
    return -1;
}

/* Read a decimal number of 1..9 digits at *p; -1 if there is none. */
static long fz_number(const char **p)
{
    long v = 0;
    int digits = 0;

    while (**p >= '0' && **p <= '9' && digits < 9) {
        v = v * 10 + (**p - '0');
        (*p)++;
        digits++;
    }
    return digits > 0 && !(**p >= '0' && **p <= '9') ? v : -1;
}

/* A refusal: one non-empty line, "<path>:<line>:<col>: <what>" with the
 * position inside the text, or "<path>: <what>". */
static void fz_check_error(const char *text, size_t n, const char *err)
{
    size_t plen = strlen(FZ_PATH), lines = 1;
    const char *p;
    long line, col;

    if (err[0] == '\0')
        fz_fail("refused without a message", NULL, n);
    for (p = err; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fz_fail("message is not one line of text", err, n);
    }
    if (strncmp(err, FZ_PATH, plen) != 0 || err[plen] != ':')
        fz_fail("message does not start with the path", err, n);
    p = err + plen + 1;
    if (*p == ' ')
        return; /* no position known */
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    if ((line = fz_number(&p)) < 0 || *p++ != ':' ||
        (col = fz_number(&p)) < 0 || p[0] != ':' || p[1] != ' ')
        fz_fail("message has no \"line:column: \" after the path", err, n);
    /* A position is 1-based, on a line of the text (one past the last
     * tolerated), and at most one past that line's last character. */
    if (line < 1 || col < 1 || (size_t)line > lines + 1)
        fz_fail("message's line:column lies outside the text", err, n);
    if (col > fz_line_chars(text, n, line) + 1)
        fz_fail("message's column lies past the end of its line", err, n);
    /* jansson places a syntax error at the last character it read; the
     * loader's own messages point at a value or a key, whose first
     * character is one of these. */
    if (strncmp(p, ": syntax error: ", 16) != 0) {
        int b = fz_byte_at(text, n, line, col);

        if (b <= 0 || strchr("{[\"-0123456789tfn", b) == NULL)
            fz_fail("message's line:column is not at a value or key", err, n);
    }
}

/* A "config" object kept both as a node of the tree (NULL if absent) and
 * as compact text ("{}" if absent): they must say the same. */
static void fz_check_config_text(const json_t *node, const char *text, size_t n)
{
    char *dumped;

    if (text == NULL)
        fz_fail("a config object without its text", NULL, n);
    if (node == NULL) {
        if (strcmp(text, "{}") != 0)
            fz_fail("absent config object whose text is not {}", text, n);
        return;
    }
    if (!json_is_object(node))
        fz_fail("config node is not an object", text, n);
    dumped = json_dumps(node, JSON_COMPACT);
    if (dumped == NULL || strcmp(dumped, text) != 0)
        fz_fail("config text is not its node's", text, n);
    free(dumped);
}

static int fz_range(long long v, long long lo, long long hi)
{
    return v >= lo && v <= hi;
}

/* Every value of an accepted configuration within the range config.h
 * documents for it. */
static void fz_check_reactor(const zg_reactor_conf_t *r, size_t n)
{
    if (!fz_range(r->ring_entries, 2, 32768) ||
        !fz_range(r->recv_buffer_size, 64, 1048576) ||
        r->recv_buffer_size % 64 != 0 ||
        !fz_range(r->buffer_ring_entries, 1, 32768) ||
        (r->buffer_ring_entries & (r->buffer_ring_entries - 1)) != 0 ||
        !fz_range(r->batch_cqes, 1, 65536) ||
        !fz_range(r->max_connections, 1, 1048576) ||
        !fz_range(r->cq_timeout_us, 0, 10000000) ||
        !fz_range(r->sqpoll, 0, 1) || !fz_range(r->sq_cpu, -1, 1023) ||
        !fz_range(r->sq_idle_ms, 0, 60000) ||
        !fz_range(r->cpu_affinity, -2, 1023) ||
        !fz_range(r->incremental_buffers, ZG_TRI_AUTO, ZG_TRI_OFF) ||
        !fz_range(r->recv_bundle, ZG_TRI_AUTO, ZG_TRI_OFF) ||
        (r->recv_bundle == ZG_TRI_ON && r->incremental_buffers == ZG_TRI_ON) ||
        !fz_range(r->buffer_window, 0, 1) || !fz_range(r->send_zc, 0, 1) ||
        !fz_range(r->send_zc_min, 1024, 16777216))
        fz_fail("a reactor value out of its documented range", NULL, n);
}

static void fz_check_listener(const zg_config_t *cfg, size_t i, size_t n)
{
    const zg_listener_conf_t *l = &cfg->listeners[i];
    int fam = l->addr.ss_family;

    if (l->name == NULL || !conf_name_ok(l->name) || l->listen == NULL ||
        l->listen[0] == '\0' || l->plugin == NULL || l->plugin[0] == '\0')
        fz_fail("a listener without its name, address or plugin", NULL, n);
    for (size_t j = 0; j < i; j++) {
        const zg_listener_conf_t *o = &cfg->listeners[j];

        if (strcmp(o->name, l->name) == 0)
            fz_fail("two listeners with one name", l->name, n);
        /* The same address and port twice can never bind both (port 0
         * asks for an ephemeral port each). */
        if (o->addrlen == l->addrlen &&
            memcmp(&o->addr, &l->addr, l->addrlen) == 0 && conf_port(&l->addr))
            fz_fail("two listeners on one address", l->listen, n);
    }
    if (!((fam == AF_INET && l->addrlen == sizeof(struct sockaddr_in)) ||
          (fam == AF_INET6 && l->addrlen == sizeof(struct sockaddr_in6))) ||
        (l->ip_version == ZG_IP_V4 && fam != AF_INET) ||
        (l->ip_version == ZG_IP_V6 && fam != AF_INET6) ||
        !fz_range(l->ip_version, ZG_IP_DUAL, ZG_IP_V6))
        fz_fail("listen address and ip_version disagree", l->listen, n);
    if (!fz_range(l->backlog, 1, 1048576) ||
        !fz_range(l->idle_timeout_ms, 0, 86400000) ||
        !fz_range(l->linger_ms, 0, 600000) ||
        !fz_range(l->max_connections, 1, 10000000) ||
        !fz_range(l->max_held_bytes, 1024, 1073741824) ||
        !fz_range(l->tcp_nodelay, 0, 1) ||
        !fz_range(l->write_high_watermark, 1024, 1073741824) ||
        l->write_low_watermark >= l->write_high_watermark ||
        l->nmodules > ZG_MAX_MODULES)
        fz_fail("a listener value out of its documented range", l->name, n);
    fz_check_config_text(l->plugin_json, l->plugin_config, n);
    for (uint32_t j = 0; j < l->nmodules; j++) {
        if (l->modules[j].spec == NULL || l->modules[j].spec[0] == '\0')
            fz_fail("a module without its name", l->name, n);
        fz_check_config_text(l->modules[j].json, l->modules[j].config, n);
    }
}

static void fz_check_config(const zg_config_t *cfg, const char *text, size_t n)
{
    const zg_acceptor_conf_t *a = &cfg->acceptor;

    if (!fz_streq(cfg->path, FZ_PATH) || cfg->textlen != n ||
        cfg->text == NULL || memcmp(cfg->text, text, n) != 0 ||
        cfg->text[n] != '\0' || cfg->root == NULL)
        fz_fail("the path, text or tree is not the one parsed", NULL, n);
    if (!fz_range(cfg->reactors, 1, ZG_MAX_REACTORS) ||
        (cfg->accept != ZG_ACCEPT_ACCEPTOR &&
         cfg->accept != ZG_ACCEPT_REUSEPORT))
        fz_fail("reactors or accept out of range (or unresolved)", NULL, n);
    if (!fz_range(a->ring_entries, 2, 32768) || !fz_range(a->batch, 1, 65536) ||
        !fz_range(a->cq_timeout_us, 0, 10000000) ||
        !fz_range(a->sqpoll, 0, 1) || !fz_range(a->sq_cpu, -1, 1023) ||
        !fz_range(a->sq_idle_ms, 0, 60000))
        fz_fail("an acceptor value out of its documented range", NULL, n);
    for (uint32_t i = 0; i < cfg->reactors; i++)
        fz_check_reactor(&cfg->reactor[i], n);
    if (!fz_range(cfg->log.level, ZG_LOG_EMERG, ZG_LOG_DEBUG) ||
        cfg->log.error_log == NULL || cfg->log.error_log[0] == '\0' ||
        !fz_range(cfg->shutdown_timeout_ms, 0, 3600000) ||
        (cfg->pid != NULL && cfg->pid[0] == '\0') ||
        (cfg->user != NULL && cfg->user[0] == '\0') ||
        (cfg->group != NULL && (cfg->group[0] == '\0' || cfg->user == NULL)) ||
        !fz_range(cfg->master, 0, 1) ||
        (cfg->master && cfg->accept == ZG_ACCEPT_REUSEPORT &&
         cfg->reactors > 1))
        fz_fail("a top-level value out of its documented range", NULL, n);
    if (!fz_range((long long)cfg->nlisteners, 1, ZG_MAX_LISTENERS))
        fz_fail("listener count out of range", NULL, n);
    for (size_t i = 0; i < cfg->nlisteners; i++)
        fz_check_listener(cfg, i, n);
}

/*
 * Do a and b hold the same configuration? With strict (two parses of one
 * text) every field must agree. Without it (a text and its dump) these
 * legitimately differ, and only these:
 *  - text, textlen and root: the dump is another text;
 *  - listeners[].line: where each listener starts in that other text;
 *  - listeners[].plugin_json and modules[].json: the dump writes every
 *    "config", {} when there was none, so the re-read has a node where the
 *    original had NULL (the compact texts, compared, are both "{}");
 *  - reactor[i] for i >= reactors: unused; they hold the "reactor" object
 *    the text gave, and the dump writes reactor 0 as "reactor", which a
 *    "reactor_overrides" entry for id 0 may have changed.
 */
static int fz_same(const zg_config_t *a, const zg_config_t *b, int strict)
{
    uint32_t nr = strict ? ZG_MAX_REACTORS : a->reactors;

    if (!fz_streq(a->path, b->path) || a->reactors != b->reactors ||
        a->accept != b->accept ||
        memcmp(&a->acceptor, &b->acceptor, sizeof(a->acceptor)) != 0 ||
        memcmp(a->reactor, b->reactor, nr * sizeof(a->reactor[0])) != 0 ||
        a->log.level != b->log.level ||
        !fz_streq(a->log.error_log, b->log.error_log) ||
        a->shutdown_timeout_ms != b->shutdown_timeout_ms ||
        !fz_streq(a->pid, b->pid) || !fz_streq(a->user, b->user) ||
        !fz_streq(a->group, b->group) || a->master != b->master ||
        a->nlisteners != b->nlisteners)
        return 0;
    if (strict && (a->textlen != b->textlen ||
                   memcmp(a->text, b->text, a->textlen) != 0 ||
                   !json_equal(a->root, b->root)))
        return 0;
    for (size_t i = 0; i < a->nlisteners; i++) {
        const zg_listener_conf_t *x = &a->listeners[i];
        const zg_listener_conf_t *y = &b->listeners[i];

        if (!fz_streq(x->name, y->name) || !fz_streq(x->listen, y->listen) ||
            x->addrlen != y->addrlen ||
            memcmp(&x->addr, &y->addr, sizeof(x->addr)) != 0 ||
            x->ip_version != y->ip_version || x->backlog != y->backlog ||
            !fz_streq(x->plugin, y->plugin) ||
            !fz_streq(x->plugin_config, y->plugin_config) ||
            x->idle_timeout_ms != y->idle_timeout_ms ||
            x->linger_ms != y->linger_ms ||
            x->max_connections != y->max_connections ||
            x->max_held_bytes != y->max_held_bytes ||
            x->tcp_nodelay != y->tcp_nodelay ||
            x->write_high_watermark != y->write_high_watermark ||
            x->write_low_watermark != y->write_low_watermark ||
            x->nmodules != y->nmodules)
            return 0;
        if (strict && (x->line != y->line ||
                       (x->plugin_json == NULL) != (y->plugin_json == NULL)))
            return 0;
        for (uint32_t j = 0; j < x->nmodules; j++) {
            if (!fz_streq(x->modules[j].spec, y->modules[j].spec) ||
                !fz_streq(x->modules[j].config, y->modules[j].config))
                return 0;
            if (strict &&
                (x->modules[j].json == NULL) != (y->modules[j].json == NULL))
                return 0;
        }
    }
    return 1;
}

/* One parse of text; err holds the message. */
static int fz_parse(const char *text, size_t n, zg_config_t **cfg, char *err)
{
    int rc;

    *cfg = (zg_config_t *)(uintptr_t)1; /* must be set either way */
    rc = zg_config_parse(text, n, FZ_PATH, cfg, err, FZ_ERRLEN);
    /* -ENOMEM would be a lie here: under the fuzzer an allocation never
     * returns NULL (the sanitizer stops the run instead). */
    if ((rc == 0) != (*cfg != NULL) || (rc != 0 && rc != -EINVAL))
        fz_fail("result is neither 0 with a config nor -EINVAL without", err,
                n);
    return rc;
}

/* The dump of cfg, as a configuration, means the same and dumps the same. */
static void fz_check_dump(const zg_config_t *cfg, const char *dump, size_t n)
{
    char err[FZ_ERRLEN];
    zg_config_t *again;
    size_t dlen = strlen(dump);
    char *dump2;

    if (dlen == 0 || dump[dlen - 1] == '\n')
        fz_fail("dump is empty or ends in a newline", dump, n);
    if (fz_parse(dump, dlen, &again, err) != 0)
        fz_fail("dump does not parse back", err, n);
    fz_check_config(again, dump, dlen);
    if (!fz_same(cfg, again, 0))
        fz_fail("dump parses back to another configuration", dump, n);
    dump2 = zg_config_dump(again);
    if (dump2 == NULL || strcmp(dump, dump2) != 0)
        fz_fail("dump of the dump differs", dump2, n);
    free(dump2);
    zg_config_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err1[FZ_ERRLEN], err2[FZ_ERRLEN];
    zg_config_t *c1, *c2;
    char *d1, *d2;
    int r1, r2;

    if (size > FZ_MAX)
        return 0;
    r1 = fz_parse(text, size, &c1, err1);
    r2 = fz_parse(text, size, &c2, err2);
    if (r1 != r2 || strcmp(err1, err2) != 0)
        fz_fail("two parses disagree", err1, size);
    if (r1 != 0) {
        fz_check_error(text, size, err1);
        return 0;
    }
    fz_check_config(c1, text, size);
    if (!fz_same(c1, c2, 1))
        fz_fail("two parses give different configurations", NULL, size);
    d1 = zg_config_dump(c1);
    d2 = zg_config_dump(c2);
    if (d1 == NULL || d2 == NULL || strcmp(d1, d2) != 0)
        fz_fail("two parses dump differently", NULL, size);
    fz_check_dump(c1, d1, size);
    free(d1);
    free(d2);
    zg_config_free(c1);
    zg_config_free(c2);
    return 0;
}
