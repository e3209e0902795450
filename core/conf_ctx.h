/* SPDX-License-Identifier: MIT */
/*
 * Description: what every configuration reader shares: the key path of the
 * value being checked, error lines that name file:line:column (mapped back
 * from a key path to the raw text, since jansson gives positions only for
 * syntax errors), "did you mean" suggestions and typed getters. Used by the
 * core's own sections (config.c) and by the key tables of plugins and
 * modules (conf_keys.c). Main thread only.
 */
#ifndef ZG_CONF_CTX_H
#define ZG_CONF_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ZG_CONF_DEPTH 16 /* deepest key path followed, with room */
#define ZG_SCAN_DEPTH 64 /* nesting the duplicate-key walker follows */
#define ZG_NOPOS      ((size_t)-1)

/* Where an error points: the value at the key path, the key itself (for an
 * unknown key), or nowhere. */
enum { ZG_AT_VALUE, ZG_AT_KEY, ZG_AT_NONE };

/* Range checks beyond lo..hi. */
#define ZG_MULT64 0x1u
#define ZG_POW2   0x2u

/* One step of a key path: a member name, or an array index if key is NULL. */
typedef struct zg_conf_comp_s {
    const char *key;
    size_t index;
} zg_conf_comp_t;

/* Parser state: the raw text (for positions), where errors go, and the key
 * path of the value being checked. Errors abort the parse, so the path is
 * left as it was at the failure. */
typedef struct zg_conf_ctx_s {
    const char *text;
    size_t len;
    const char *file;
    char *err;
    size_t errlen;
    zg_conf_comp_t path[ZG_CONF_DEPTH];
    int depth;
} zg_conf_ctx_t;

typedef struct zg_scan_s {
    const char *s;
    size_t len;
    size_t pos;
} zg_scan_t;

/* Offset in text of the value (or, if key is set, the member name) at the
 * key path, or ZG_NOPOS if the text cannot be followed there. */
size_t zg_conf_find(const char *text, size_t len, const zg_conf_comp_t *path,
                    int depth, int key);

/* 1-based line and column (in characters, as jansson counts) of off. */
void zg_conf_linecol(const char *s, size_t off, int *line, int *col);

/* Write "<file>:<line>:<col>: <key path>: <what>" (one line) into c->err
 * for the value at path (off = its offset, or ZG_NOPOS); returns -EINVAL. */
int zg_conf_message_at(zg_conf_ctx_t *c, const zg_conf_comp_t *path, int depth,
                       size_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The same at the current key path, pointing at the value, the key or
 * nowhere (ZG_AT_*); returns -EINVAL. */
int zg_conf_err(zg_conf_ctx_t *c, int at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<file>: out of memory"; returns -ENOMEM. */
int zg_conf_nomem(zg_conf_ctx_t *c);

/* Report a jansson parse error (syntax, or a duplicate key found again in
 * the text to name it); returns -EINVAL. */
int zg_conf_syntax(zg_conf_ctx_t *c, const json_error_t *je);

/* Enter / leave a member (key) or an array element (key NULL, index). */
void zg_conf_push(zg_conf_ctx_t *c, const char *key, size_t index);
void zg_conf_pop(zg_conf_ctx_t *c);

/* "object", "integer", ... for messages. */
const char *zg_conf_type(const json_t *v);

/* Levenshtein distance, case-insensitive; -1 for names too long to care. */
int zg_conf_distance(const char *a, const char *b);

/* The closest name in k1 or k2 (NULL-terminated lists, either may be NULL)
 * if close enough to be a likely typo, else NULL. */
const char *zg_conf_suggest(const char *key, const char *const *k1,
                            const char *const *k2);
int zg_conf_in_list(const char *key, const char *const *list);

/* Reject any member of obj not in k1 or k2, with a suggestion. */
int zg_conf_keys(zg_conf_ctx_t *c, json_t *obj, const char *const *k1,
                 const char *const *k2);
int zg_conf_require(zg_conf_ctx_t *c, json_t *obj, const char *key);

/* Typed members of obj; each leaves *out untouched if key is absent and
 * returns 0, or -EINVAL with the message written. conf_str borrows
 * jansson's string; conf_dup replaces *out with a copy of s. */
int zg_conf_int(zg_conf_ctx_t *c, json_t *obj, const char *key, long long lo,
                long long hi, unsigned flags, long long *out);
int zg_conf_u32(zg_conf_ctx_t *c, json_t *obj, const char *key, long long lo,
                long long hi, unsigned flags, uint32_t *out);
int zg_conf_sint(zg_conf_ctx_t *c, json_t *obj, const char *key, long long lo,
                 long long hi, int *out);
int zg_conf_bool(zg_conf_ctx_t *c, json_t *obj, const char *key, int *out);
int zg_conf_str(zg_conf_ctx_t *c, json_t *obj, const char *key,
                const char **out);
int zg_conf_enum(zg_conf_ctx_t *c, json_t *obj, const char *key,
                 const char *const *names, const int *values, int *out);
int zg_conf_object(zg_conf_ctx_t *c, json_t *obj, const char *key,
                   json_t **out);
int zg_conf_dup(zg_conf_ctx_t *c, const char *s, char **out);

#endif /* ZG_CONF_CTX_H */
