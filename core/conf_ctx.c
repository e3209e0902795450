/* SPDX-License-Identifier: MIT */
/*
 * Description: the shared configuration-reading machinery (conf_ctx.h): a
 * small scanner over the raw JSON text that maps a key path back to a
 * line:column, one-line error messages, "did you mean" and typed getters.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_ctx.h"

/* ---- the raw-text scanner ------------------------------------------- */

/* The scanner runs over text jansson has accepted (or, for a duplicate key,
 * accepted up to that key), but it never trusts it: every step is bounds
 * checked and anything unexpected ends the scan with "not found". */

static void scan_ws(zg_scan_t *sc)
{
    while (sc->pos < sc->len &&
           (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' ||
            sc->s[sc->pos] == '\n' || sc->s[sc->pos] == '\r'))
        sc->pos++;
}

static int scan_peek(const zg_scan_t *sc)
{
    return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static int scan_hex4(const char *s, size_t n)
{
    int v = 0;

    if (n < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i];
        if (!isxdigit(c))
            return -1;
        v = v * 16 + (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    return v;
}

static char *scan_put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *d++ = (char)(0xf0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    }
    return d;
}

/* Decode the n raw bytes between a string's quotes into d (n + 1 bytes is
 * always enough: no escape decodes to more bytes than it is written in). */
static void scan_decode(const char *s, size_t n, char *d)
{
    size_t i = 0;

    while (i < n) {
        char c = s[i++];
        int cp, lo;

        if (c != '\\' || i >= n) {
            *d++ = c;
            continue;
        }
        c = s[i++];
        switch (c) {
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;
        case 'u':
            cp = scan_hex4(s + i, n - i);
            if (cp < 0) {
                *d++ = '?';
                break;
            }
            i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && n - i >= 6 && s[i] == '\\' &&
                s[i + 1] == 'u') {
                lo = scan_hex4(s + i + 2, n - i - 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            d = scan_put_utf8(d, (unsigned)cp);
            break;
        default:
            *d++ = c;
            break;
        }
    }
    *d = '\0';
}

/* Step over the string at sc->pos; if out, return it decoded (malloc). */
static int scan_string(zg_scan_t *sc, char **out)
{
    size_t start;

    if (scan_peek(sc) != '"')
        return -1;
    start = ++sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] != '"') {
        if (sc->s[sc->pos] == '\\')
            sc->pos++;
        sc->pos++;
    }
    if (sc->pos >= sc->len)
        return -1;
    sc->pos++;
    if (out) {
        size_t n = sc->pos - 1 - start;

        *out = malloc(n + 1);
        if (!*out)
            return -1;
        scan_decode(sc->s + start, n, *out);
    }
    return 0;
}

static int scan_is_delim(int c)
{
    return c == ',' || c == ':' || c == '[' || c == ']' || c == '{' ||
           c == '}' || c == '"' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r';
}

/* Step over one value of any kind, without recursion. */
static int scan_skip(zg_scan_t *sc)
{
    size_t depth = 0;

    do {
        int c;

        scan_ws(sc);
        c = scan_peek(sc);
        if (c < 0)
            return -1;
        if (c == '"') {
            if (scan_string(sc, NULL) != 0)
                return -1;
        } else if (c == '{' || c == '[') {
            depth++;
            sc->pos++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return -1;
            depth--;
            sc->pos++;
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return -1;
            sc->pos++;
        } else {
            size_t start = sc->pos;

            while (sc->pos < sc->len &&
                   !scan_is_delim((unsigned char)sc->s[sc->pos]))
                sc->pos++;
            if (sc->pos == start)
                return -1;
        }
    } while (depth > 0);
    return 0;
}

/* Offset of the value at key path comps[0..n), or of its key when want_key
 * and the last step is a member; ZG_NOPOS if it cannot be found. */
size_t zg_conf_find(const char *text, size_t len, const zg_conf_comp_t *comps,
                    int n, int want_key)
{
    zg_scan_t sc = {text, len, 0};

    for (int i = 0; i < n; i++) {
        scan_ws(&sc);
        if (comps[i].key) {
            if (scan_peek(&sc) != '{')
                return ZG_NOPOS;
            sc.pos++;
            for (;;) {
                size_t key_off;
                char *k;
                int match;

                scan_ws(&sc);
                key_off = sc.pos;
                if (scan_string(&sc, &k) != 0)
                    return ZG_NOPOS;
                match = strcmp(k, comps[i].key) == 0;
                free(k);
                scan_ws(&sc);
                if (scan_peek(&sc) != ':')
                    return ZG_NOPOS;
                sc.pos++;
                if (match) {
                    if (want_key && i == n - 1)
                        return key_off;
                    break;
                }
                if (scan_skip(&sc) != 0)
                    return ZG_NOPOS;
                scan_ws(&sc);
                if (scan_peek(&sc) != ',')
                    return ZG_NOPOS;
                sc.pos++;
            }
        } else {
            if (scan_peek(&sc) != '[')
                return ZG_NOPOS;
            sc.pos++;
            for (size_t j = 0; j < comps[i].index; j++) {
                if (scan_skip(&sc) != 0)
                    return ZG_NOPOS;
                scan_ws(&sc);
                if (scan_peek(&sc) != ',')
                    return ZG_NOPOS;
                sc.pos++;
            }
        }
    }
    scan_ws(&sc);
    if (sc.pos >= len || scan_peek(&sc) == ']' || scan_peek(&sc) == '}')
        return ZG_NOPOS;
    return sc.pos;
}

/* 1-based line and column (in characters, as jansson counts) of off. */
void zg_conf_linecol(const char *s, size_t off, int *line, int *col)
{
    int l = 1, c = 1;

    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)s[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* ---- error messages -------------------------------------------------- */

static void conf_render_path(const zg_conf_comp_t *path, int depth, char *buf,
                             size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; i < depth && n < len; i++) {
        int r;

        if (path[i].key)
            r = snprintf(buf + n, len - n, "%s%s", i ? "." : "", path[i].key);
        else
            r = snprintf(buf + n, len - n, "[%zu]", path[i].index);
        if (r < 0)
            break;
        n += (size_t)r;
    }
}

/* "<file>:<line>:<col>: <key path>: <what>", one line: any control byte a
 * key or a value may carry is replaced so the message stays on one line. */
static void conf_vmessage(zg_conf_ctx_t *c, const zg_conf_comp_t *path,
                          int depth, size_t off, const char *fmt, va_list ap)
{
    char kp[256];
    size_t n;
    int r;

    if (!c->err || c->errlen == 0)
        return;
    if (off != ZG_NOPOS && off <= c->len) {
        int line, col;

        zg_conf_linecol(c->text, off, &line, &col);
        r = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->file, line, col);
    } else {
        r = snprintf(c->err, c->errlen, "%s: ", c->file);
    }
    n = r < 0 ? 0 : (size_t)r;
    if (depth > 0 && n < c->errlen) {
        conf_render_path(path, depth, kp, sizeof(kp));
        r = snprintf(c->err + n, c->errlen - n, "%s: ", kp);
        n += r < 0 ? 0 : (size_t)r;
    }
    if (n < c->errlen)
        vsnprintf(c->err + n, c->errlen - n, fmt, ap);
    for (char *p = c->err; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

int zg_conf_message_at(zg_conf_ctx_t *c, const zg_conf_comp_t *path, int depth,
                       size_t off, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_vmessage(c, path, depth, off, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Report an error at the current key path; returns -EINVAL. */
int zg_conf_err(zg_conf_ctx_t *c, int at, const char *fmt, ...)
{
    int depth = c->depth < ZG_CONF_DEPTH ? c->depth : ZG_CONF_DEPTH;
    size_t off = ZG_NOPOS;
    va_list ap;

    if (at != ZG_AT_NONE)
        off = zg_conf_find(c->text, c->len, c->path, depth, at == ZG_AT_KEY);
    va_start(ap, fmt);
    conf_vmessage(c, c->path, depth, off, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int zg_conf_nomem(zg_conf_ctx_t *c)
{
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: out of memory", c->file);
    return -ENOMEM;
}

/* Find the first duplicate member name in document order (the one jansson
 * stopped at) and report it at the second occurrence. Returns 1 if reported,
 * 0 if none, -1 if the text could not be followed. */
static int scan_dups(zg_conf_ctx_t *c, zg_scan_t *sc, zg_conf_comp_t *path,
                     int depth)
{
    char **keys = NULL;
    size_t nkeys = 0, cap = 0;
    int open, close, rc = 0;

    scan_ws(sc);
    open = scan_peek(sc);
    if (depth >= ZG_SCAN_DEPTH || (open != '{' && open != '['))
        return scan_skip(sc);
    close = open == '{' ? '}' : ']';
    sc->pos++;
    for (size_t i = 0;; i++) {
        scan_ws(sc);
        if (scan_peek(sc) == close) {
            sc->pos++;
            break;
        }
        if (open == '{') {
            size_t key_off = sc->pos;
            char *k;

            if (scan_string(sc, &k) != 0) {
                rc = -1;
                goto done;
            }
            for (size_t j = 0; j < nkeys; j++) {
                if (strcmp(keys[j], k) == 0) {
                    zg_conf_message_at(c, path, depth, key_off,
                                       "duplicate key \"%s\"", k);
                    free(k);
                    rc = 1;
                    goto done;
                }
            }
            if (nkeys == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                char **nk = realloc(keys, ncap * sizeof(*nk));

                if (!nk) {
                    free(k);
                    rc = -1;
                    goto done;
                }
                keys = nk;
                cap = ncap;
            }
            keys[nkeys++] = k;
            scan_ws(sc);
            if (scan_peek(sc) != ':') {
                rc = -1;
                goto done;
            }
            sc->pos++;
            path[depth].key = k;
        } else {
            path[depth].key = NULL;
            path[depth].index = i;
        }
        rc = scan_dups(c, sc, path, depth + 1);
        if (rc != 0)
            goto done;
        scan_ws(sc);
        if (scan_peek(sc) == ',') {
            sc->pos++;
        } else if (scan_peek(sc) != close) {
            rc = -1;
            goto done;
        }
    }
done:
    for (size_t j = 0; j < nkeys; j++)
        free(keys[j]);
    free(keys);
    return rc;
}

int zg_conf_syntax(zg_conf_ctx_t *c, const json_error_t *je)
{
    int dup;

#if JANSSON_VERSION_HEX >= 0x020b00
    if (json_error_code(je) == json_error_out_of_memory)
        return zg_conf_nomem(c);
    dup = json_error_code(je) == json_error_duplicate_key;
#else
    dup = strncmp(je->text, "duplicate object key", 20) == 0;
#endif
    if (dup) {
        zg_conf_comp_t path[ZG_SCAN_DEPTH];
        zg_scan_t sc = {c->text, c->len, 0};

        if (scan_dups(c, &sc, path, 0) == 1)
            return -EINVAL;
    }
    if (c->err && c->errlen) {
        if (je->line > 0)
            snprintf(c->err, c->errlen, "%s:%d:%d: syntax error: %s", c->file,
                     je->line, je->column > 0 ? je->column : 1, je->text);
        else
            snprintf(c->err, c->errlen, "%s: syntax error: %s", c->file,
                     je->text);
        for (char *p = c->err; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
    }
    return -EINVAL;
}

/* ---- typed getters ---------------------------------------------------- */

void zg_conf_push(zg_conf_ctx_t *c, const char *key, size_t index)
{
    if (c->depth < ZG_CONF_DEPTH) {
        c->path[c->depth].key = key;
        c->path[c->depth].index = index;
    }
    c->depth++;
}

void zg_conf_pop(zg_conf_ctx_t *c)
{
    c->depth--;
}

const char *zg_conf_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* Levenshtein distance, case-insensitive; -1 for names too long to care. */
int zg_conf_distance(const char *a, const char *b)
{
    int row[65];
    size_t la = strlen(a), lb = strlen(b);

    if (la > 64 || lb > 64)
        return -1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];

        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) !=
                       tolower((unsigned char)b[j - 1]);
            int best = diag + cost;

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest known name, if close enough to be a likely typo. */
const char *zg_conf_suggest(const char *key, const char *const *k1,
                            const char *const *k2)
{
    const char *const *lists[2] = {k1, k2};
    const char *best = NULL;
    int bestd = INT_MAX;

    for (int l = 0; l < 2; l++) {
        for (const char *const *k = lists[l]; k && *k; k++) {
            int d = zg_conf_distance(key, *k);
            size_t m = strlen(key) > strlen(*k) ? strlen(key) : strlen(*k);

            if (d >= 0 && d <= 3 && (size_t)d * 2 <= m && d < bestd) {
                best = *k;
                bestd = d;
            }
        }
    }
    return best;
}

int zg_conf_in_list(const char *key, const char *const *list)
{
    for (; list && *list; list++) {
        if (strcmp(key, *list) == 0)
            return 1;
    }
    return 0;
}

/* Reject any member of obj not in k1 or k2. */
int zg_conf_keys(zg_conf_ctx_t *c, json_t *obj, const char *const *k1,
                 const char *const *k2)
{
    for (void *it = json_object_iter(obj); it;
         it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        const char *best;

        if (zg_conf_in_list(key, k1) || zg_conf_in_list(key, k2))
            continue;
        best = zg_conf_suggest(key, k1, k2);
        zg_conf_push(c, key, 0);
        if (best)
            return zg_conf_err(c, ZG_AT_KEY,
                               "unknown key (did you mean \"%s\"?)", best);
        return zg_conf_err(c, ZG_AT_KEY, "unknown key");
    }
    return 0;
}

int zg_conf_require(zg_conf_ctx_t *c, json_t *obj, const char *key)
{
    if (json_object_get(obj, key))
        return 0;
    return zg_conf_err(c, ZG_AT_VALUE, "missing required key \"%s\"", key);
}

/* An integer member in lo..hi (plus flags checks); *out untouched if the
 * member is absent. */
int zg_conf_int(zg_conf_ctx_t *c, json_t *obj, const char *key, long long lo,
                long long hi, unsigned flags, long long *out)
{
    json_t *v = json_object_get(obj, key);
    long long n;

    if (!v)
        return 0;
    zg_conf_push(c, key, 0);
    if (!json_is_integer(v))
        return zg_conf_err(c, ZG_AT_VALUE, "expected an integer, got %s",
                           zg_conf_type(v));
    n = (long long)json_integer_value(v);
    if (n < lo || n > hi)
        return zg_conf_err(c, ZG_AT_VALUE, "%lld is out of range %lld..%lld", n,
                           lo, hi);
    if ((flags & ZG_MULT64) && n % 64 != 0)
        return zg_conf_err(c, ZG_AT_VALUE, "%lld is not a multiple of 64", n);
    if ((flags & ZG_POW2) && (n & (n - 1)) != 0)
        return zg_conf_err(c, ZG_AT_VALUE, "%lld is not a power of 2", n);
    zg_conf_pop(c);
    *out = n;
    return 0;
}

int zg_conf_u32(zg_conf_ctx_t *c, json_t *obj, const char *key, long long lo,
                long long hi, unsigned flags, uint32_t *out)
{
    long long n = *out;
    int rc = zg_conf_int(c, obj, key, lo, hi, flags, &n);

    *out = (uint32_t)n;
    return rc;
}

int zg_conf_sint(zg_conf_ctx_t *c, json_t *obj, const char *key, long long lo,
                 long long hi, int *out)
{
    long long n = *out;
    int rc = zg_conf_int(c, obj, key, lo, hi, 0, &n);

    *out = (int)n;
    return rc;
}

int zg_conf_bool(zg_conf_ctx_t *c, json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    zg_conf_push(c, key, 0);
    if (!json_is_boolean(v))
        return zg_conf_err(c, ZG_AT_VALUE, "expected a boolean, got %s",
                           zg_conf_type(v));
    zg_conf_pop(c);
    *out = json_is_true(v);
    return 0;
}

/* A string member; *out borrows jansson's copy. */
int zg_conf_str(zg_conf_ctx_t *c, json_t *obj, const char *key,
                const char **out)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    zg_conf_push(c, key, 0);
    if (!json_is_string(v))
        return zg_conf_err(c, ZG_AT_VALUE, "expected a string, got %s",
                           zg_conf_type(v));
    if (json_string_length(v) == 0)
        return zg_conf_err(c, ZG_AT_VALUE, "must not be empty");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return zg_conf_err(c, ZG_AT_VALUE, "must not contain a NUL byte");
    zg_conf_pop(c);
    *out = json_string_value(v);
    return 0;
}

/* A string member that must be one of names[]; *out gets values[i]. */
int zg_conf_enum(zg_conf_ctx_t *c, json_t *obj, const char *key,
                 const char *const *names, const int *values, int *out)
{
    const char *s = NULL;
    char list[160];
    size_t n = 0;
    int rc = zg_conf_str(c, obj, key, &s);

    if (rc != 0 || !s)
        return rc;
    for (size_t i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = values[i];
            return 0;
        }
    }
    list[0] = '\0';
    for (size_t i = 0; names[i] && n < sizeof(list); i++) {
        int r = snprintf(list + n, sizeof(list) - n, "%s\"%s\"", i ? ", " : "",
                         names[i]);
        n += r < 0 ? 0 : (size_t)r;
    }
    zg_conf_push(c, key, 0);
    return zg_conf_err(c, ZG_AT_VALUE, "\"%s\" is not one of %s", s, list);
}

/* An object member; *out is NULL if absent. */
int zg_conf_object(zg_conf_ctx_t *c, json_t *obj, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v)) {
        zg_conf_push(c, key, 0);
        return zg_conf_err(c, ZG_AT_VALUE, "expected an object, got %s",
                           zg_conf_type(v));
    }
    *out = v;
    return 0;
}

int zg_conf_dup(zg_conf_ctx_t *c, const char *s, char **out)
{
    char *d = strdup(s);

    if (!d)
        return zg_conf_nomem(c);
    free(*out);
    *out = d;
    return 0;
}
