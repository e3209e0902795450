/* SPDX-License-Identifier: MIT */
/*
 * Description: a small strict JSON reader (RFC 8259) for the plugin's
 * config, since plugins see no zerg header but plugin.h and link nothing
 * but libc. It builds a tree at start-up; nothing here runs per request.
 */
#ifndef ZG_HTTP_JSON_H
#define ZG_HTTP_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum zg_json_type_e {
    ZG_JSON_NULL = 0,
    ZG_JSON_BOOL,
    ZG_JSON_INT,    /* a number without fraction or exponent */
    ZG_JSON_NUMBER, /* any other number (its value is not kept) */
    ZG_JSON_STRING,
    ZG_JSON_ARRAY,
    ZG_JSON_OBJECT,
} zg_json_type_t;

/* A value. Members of an object carry their key; array elements and
 * members are linked through next, in document order. */
typedef struct zg_json_s zg_json_t;
struct zg_json_s {
    zg_json_type_t type;
    int64_t num;     /* INT; BOOL: 0 or 1 */
    char *str;       /* STRING: the decoded UTF-8 bytes, NUL-terminated */
    size_t len;      /* STRING: bytes at str (may contain NUL) */
    char *key;       /* object member: its key, NUL-terminated */
    size_t klen;     /* object member: bytes at key */
    zg_json_t *kids; /* ARRAY, OBJECT: the first element or member */
    zg_json_t *next; /* the next sibling */
    size_t nkids;    /* ARRAY, OBJECT: number of elements or members */
};

/*
 * Parse len bytes of text as one JSON value (surrounding white space
 * allowed). Strict: no comments, no trailing commas, no duplicate keys,
 * valid UTF-8, nesting at most 32 deep. On success returns 0 and stores a
 * tree the caller frees with zg_json_free(); on failure returns -1 and
 * writes "line L, column C: reason" to err. Main thread, start-up only.
 */
int zg_json_parse(const char *text, size_t len, zg_json_t **root, char *err,
                  size_t errlen);

/* Free a tree from zg_json_parse() (NULL is fine). */
void zg_json_free(zg_json_t *v);

/* The member of object obj named key, or NULL. */
const zg_json_t *zg_json_get(const zg_json_t *obj, const char *key);

/* "null", "a boolean", "an integer", ... for error messages. */
const char *zg_json_type_name(zg_json_type_t t);

/* s[0..n) made fit for a one-line message into out (outlen bytes):
 * printable ASCII, others as '?', at most 40 characters then "...".
 * Returns out. */
const char *zg_json_clean(const char *s, size_t n, char *out, size_t outlen);

#endif /* ZG_HTTP_JSON_H */
