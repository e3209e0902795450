/* SPDX-License-Identifier: MIT */
/*
 * Description: a small strict JSON reader (see json.h): recursive descent
 * over the text, one heap node per value, errors with line and column.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ZG_JSON_MAX_DEPTH 32

typedef struct zg_jp_s {
    const unsigned char *s;
    size_t n;
    size_t i;
    int depth;
    char *err;
    size_t errlen;
} zg_jp_t;

static int zg_jp_fail(zg_jp_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *zg_json_clean(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0;

    for (size_t i = 0; i < n && k + 4 < outlen && i < 40; i++) {
        unsigned char c = (unsigned char)s[i];

        out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n > 40 && k + 4 < outlen) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static int zg_jp_fail(zg_jp_t *p, const char *fmt, ...)
{
    size_t line = 1, col = 1;
    char msg[160];
    va_list ap;

    for (size_t k = 0; k < p->i && k < p->n; k++) {
        if (p->s[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->errlen > 0)
        snprintf(p->err, p->errlen, "line %zu, column %zu: %s", line, col, msg);
    return -1;
}

static void zg_jp_ws(zg_jp_t *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                           p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int zg_jp_hex4(zg_jp_t *p, unsigned *out)
{
    unsigned v = 0;

    if (p->n - p->i < 4)
        return zg_jp_fail(p, "truncated \\u escape");
    for (int k = 0; k < 4; k++) {
        unsigned char c = p->s[p->i + (size_t)k];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (c | 0x20) - 'a' + 10;
        else
            return zg_jp_fail(p, "bad \\u escape");
    }
    p->i += 4;
    *out = v;
    return 0;
}

static size_t zg_jp_put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t zg_jp_utf8(const unsigned char *s, size_t n)
{
    unsigned cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A string at p->s[p->i] == '"'. */
static int zg_jp_string(zg_jp_t *p, char **out, size_t *outlen)
{
    size_t j = p->i + 1, o = 0;
    char *d;

    /* Find the end first, to size the buffer: decoding never grows. */
    while (j < p->n && p->s[j] != '"')
        j += p->s[j] == '\\' ? 2 : 1;
    if (j >= p->n)
        return zg_jp_fail(p, "unterminated string");
    d = malloc(j - p->i);
    if (d == NULL)
        return zg_jp_fail(p, "out of memory");
    p->i++;
    while (p->s[p->i] != '"') {
        unsigned char c = p->s[p->i];

        if (c < 0x20) {
            free(d);
            return zg_jp_fail(p, "control character in string");
        }
        if (c == '\\') {
            unsigned cp, lo;

            p->i++;
            switch (p->s[p->i++]) {
            case '"':
                d[o++] = '"';
                break;
            case '\\':
                d[o++] = '\\';
                break;
            case '/':
                d[o++] = '/';
                break;
            case 'b':
                d[o++] = '\b';
                break;
            case 'f':
                d[o++] = '\f';
                break;
            case 'n':
                d[o++] = '\n';
                break;
            case 'r':
                d[o++] = '\r';
                break;
            case 't':
                d[o++] = '\t';
                break;
            case 'u':
                if (zg_jp_hex4(p, &cp) < 0)
                    goto fail;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    zg_jp_fail(p, "lone low surrogate in \\u escape");
                    goto fail;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (p->n - p->i < 2 || p->s[p->i] != '\\' ||
                        p->s[p->i + 1] != 'u') {
                        zg_jp_fail(p, "lone high surrogate in \\u escape");
                        goto fail;
                    }
                    p->i += 2;
                    if (zg_jp_hex4(p, &lo) < 0)
                        goto fail;
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        zg_jp_fail(p, "bad surrogate pair in \\u escape");
                        goto fail;
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                o += zg_jp_put_utf8(d + o, cp);
                break;
            default:
                p->i -= 2;
                if (p->s[p->i + 1] >= 0x20 && p->s[p->i + 1] < 0x7f)
                    zg_jp_fail(p, "bad escape \\%c", p->s[p->i + 1]);
                else
                    zg_jp_fail(p, "bad escape \\ followed by byte 0x%02x",
                               p->s[p->i + 1]);
                goto fail;
            }
            continue;
        }
        {
            size_t k = zg_jp_utf8(p->s + p->i, p->n - p->i);

            if (k == 0) {
                zg_jp_fail(p, "invalid UTF-8 in string");
                goto fail;
            }
            memcpy(d + o, p->s + p->i, k);
            o += k;
            p->i += k;
        }
    }
    p->i++;
    d[o] = '\0';
    *out = d;
    *outlen = o;
    return 0;
fail:
    free(d);
    return -1;
}

static int zg_jp_number(zg_jp_t *p, zg_json_t *v)
{
    size_t start = p->i;
    int neg = 0, frac = 0;
    uint64_t mag = 0, lim;

    if (p->s[p->i] == '-') {
        neg = 1;
        p->i++;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return zg_jp_fail(p, "bad number");
    if (p->s[p->i] == '0' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' &&
        p->s[p->i + 1] <= '9')
        return zg_jp_fail(p, "leading zero in number");
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned dgt = p->s[p->i] - '0';

        if (mag > (lim - dgt) / 10) {
            p->i = start;
            return zg_jp_fail(p, "integer out of range");
        }
        mag = mag * 10 + dgt;
        p->i++;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        frac = 1;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return zg_jp_fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        frac = 1;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return zg_jp_fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (frac) {
        v->type = ZG_JSON_NUMBER;
    } else {
        v->type = ZG_JSON_INT;
        v->num = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    return 0;
}

static int zg_jp_literal(zg_jp_t *p, const char *word, size_t len)
{
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return zg_jp_fail(p, "unexpected character '%c'",
                          p->s[p->i] >= 0x20 && p->s[p->i] < 0x7f ? p->s[p->i]
                                                                  : '?');
    p->i += len;
    return 0;
}

static int zg_jp_value(zg_jp_t *p, zg_json_t **out);

/* Elements or members up to the closing bracket. */
static int zg_jp_container(zg_jp_t *p, zg_json_t *v, int object)
{
    zg_json_t **tail = &v->kids;
    const unsigned char close = object ? '}' : ']';

    if (++p->depth > ZG_JSON_MAX_DEPTH)
        return zg_jp_fail(p, "nesting deeper than %d", ZG_JSON_MAX_DEPTH);
    p->i++;
    zg_jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0, kat = 0;
        zg_json_t *kid;

        if (object) {
            if (p->i >= p->n || p->s[p->i] != '"')
                return zg_jp_fail(p, "expected a string key");
            kat = p->i;
            if (zg_jp_string(p, &key, &klen) < 0)
                return -1;
            for (zg_json_t *k = v->kids; k != NULL; k = k->next) {
                if (k->klen == klen && memcmp(k->key, key, klen) == 0) {
                    char shown[48];

                    free(key);
                    p->i = kat;
                    return zg_jp_fail(
                        p, "duplicate key \"%s\"",
                        zg_json_clean(k->key, k->klen, shown, sizeof(shown)));
                }
            }
            zg_jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                free(key);
                return zg_jp_fail(p, "expected ':'");
            }
            p->i++;
            zg_jp_ws(p);
        }
        if (zg_jp_value(p, &kid) < 0) {
            free(key);
            return -1;
        }
        kid->key = key;
        kid->klen = klen;
        *tail = kid;
        tail = &kid->next;
        v->nkids++;
        zg_jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            zg_jp_ws(p);
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            p->depth--;
            return 0;
        }
        return zg_jp_fail(p, "expected ',' or '%c'", close);
    }
}

static int zg_jp_value(zg_jp_t *p, zg_json_t **out)
{
    zg_json_t *v;
    int rc;

    if (p->i >= p->n)
        return zg_jp_fail(p, "unexpected end of input");
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return zg_jp_fail(p, "out of memory");
    *out = v;
    switch (p->s[p->i]) {
    case '{':
        v->type = ZG_JSON_OBJECT;
        rc = zg_jp_container(p, v, 1);
        break;
    case '[':
        v->type = ZG_JSON_ARRAY;
        rc = zg_jp_container(p, v, 0);
        break;
    case '"':
        v->type = ZG_JSON_STRING;
        rc = zg_jp_string(p, &v->str, &v->len);
        break;
    case 't':
        v->type = ZG_JSON_BOOL;
        v->num = 1;
        rc = zg_jp_literal(p, "true", 4);
        break;
    case 'f':
        v->type = ZG_JSON_BOOL;
        rc = zg_jp_literal(p, "false", 5);
        break;
    case 'n':
        rc = zg_jp_literal(p, "null", 4);
        break;
    default:
        if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            rc = zg_jp_number(p, v);
        else
            rc = zg_jp_literal(p, "\x01", 1);
    }
    if (rc < 0) {
        zg_json_free(v);
        *out = NULL;
    }
    return rc;
}

int zg_json_parse(const char *text, size_t len, zg_json_t **root, char *err,
                  size_t errlen)
{
    zg_jp_t p = {(const unsigned char *)text, len, 0, 0, err, errlen};
    zg_json_t *v;

    *root = NULL;
    zg_jp_ws(&p);
    if (zg_jp_value(&p, &v) < 0)
        return -1;
    zg_jp_ws(&p);
    if (p.i != p.n) {
        zg_json_free(v);
        return zg_jp_fail(&p, "trailing characters after the value");
    }
    *root = v;
    return 0;
}

void zg_json_free(zg_json_t *v)
{
    while (v != NULL) {
        zg_json_t *next = v->next;

        zg_json_free(v->kids);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

const zg_json_t *zg_json_get(const zg_json_t *obj, const char *key)
{
    size_t klen = strlen(key);

    if (obj == NULL || obj->type != ZG_JSON_OBJECT)
        return NULL;
    for (const zg_json_t *k = obj->kids; k != NULL; k = k->next) {
        if (k->klen == klen && memcmp(k->key, key, klen) == 0)
            return k;
    }
    return NULL;
}

const char *zg_json_type_name(zg_json_type_t t)
{
    switch (t) {
    case ZG_JSON_NULL:
        return "null";
    case ZG_JSON_BOOL:
        return "a boolean";
    case ZG_JSON_INT:
        return "an integer";
    case ZG_JSON_NUMBER:
        return "a number";
    case ZG_JSON_STRING:
        return "a string";
    case ZG_JSON_ARRAY:
        return "an array";
    case ZG_JSON_OBJECT:
        return "an object";
    }
    return "?";
}
