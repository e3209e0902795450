/* SPDX-License-Identifier: MIT */
/*
 * Description: the HTTP/1.1 request parser (RFC 9112): a resumable state
 * machine that reads a request head straight from the host's input views,
 * the checks that decide a request's framing (parse.c), and a chunked
 * body decoder (chunked.c).
 * No I/O, no allocation, no global state: unit tests and the fuzzer drive
 * it directly.
 */
#ifndef ZG_HTTP_PARSE_H
#define ZG_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <zerg/plugin.h>

/* Character classes: bits of zg_http_ctab[byte]. */
#define ZG_HTTP_C_TOKEN  0x01 /* tchar (RFC 9110 5.6.2) */
#define ZG_HTTP_C_TARGET 0x02 /* URI characters allowed in a request-target */
#define ZG_HTTP_C_FVAL   0x04 /* field-vchar, SP, HTAB (RFC 9110 5.5) */
#define ZG_HTTP_C_HOST   0x08 /* uri-host and port characters (RFC 3986) */
#define ZG_HTTP_C_HEX    0x10 /* HEXDIG */
#define ZG_HTTP_C_QTEXT  0x20 /* qdtext (RFC 9110 5.6.4) */

/* The class bits of every byte value (read-only, any thread). */
extern const unsigned char zg_http_ctab[256];

/* Per-listener limits (see README.md, "limits"). */
typedef struct zg_http_limits_s {
    uint32_t max_request_line; /* request line, CRLF included (else 414) */
    uint32_t max_header_size;  /* field lines + final CRLF (else 431) */
    uint32_t max_headers;      /* field lines per head / trailer (431) */
    uint64_t max_body_size;    /* decoded body bytes (else 413) */
} zg_http_limits_t;

/* Bytes of scratch memory the parser needs for given limits: fields that
 * span two views are gathered there. */
#define ZG_HTTP_SCRATCH(lim)                                                   \
    ((size_t)(lim)->max_request_line + (lim)->max_header_size + 64)

/* Connection header options seen (zg_http_head_t.conn). */
#define ZG_HTTP_CONN_CLOSE 0x1u
#define ZG_HTTP_CONN_KEEP  0x2u

/* Expect header contents (zg_http_head_t.expect). */
#define ZG_HTTP_EXPECT_CONTINUE 0x1u
#define ZG_HTTP_EXPECT_OTHER    0x2u

/*
 * Parse state of one request head, and what it found. Offsets count from
 * the first byte of the request (a blank line before it included). Zero
 * it (zg_http_head_reset) before the first byte of each request; between
 * calls the caller presents the same bytes again, at the same offsets,
 * followed by new ones: parsing resumes at .off without rescanning.
 */
typedef struct zg_http_head_s {
    uint32_t state;      /* where the machine stopped */
    uint32_t off;        /* bytes of the request examined so far */
    uint32_t mark;       /* start of the name or value being read */
    uint32_t hstart;     /* offset of the first field line */
    uint32_t method_off; /* the method token */
    uint32_t method_len;
    uint32_t target_off; /* the request-target */
    uint32_t target_len;
    uint32_t nfields; /* field lines so far */
    uint8_t vpos;     /* bytes of "HTTP/x.y" matched */
    uint8_t major;    /* HTTP version */
    uint8_t minor;
    uint8_t field;      /* the known field being read (ZG_HTTP_F_*) */
    uint8_t nhost;      /* Host field lines */
    uint8_t ncl;        /* Content-Length field lines */
    uint8_t nte;        /* Transfer-Encoding field lines */
    uint8_t te_chunked; /* "chunked" codings seen */
    uint8_t te_unknown; /* another, well-formed coding seen */
    uint8_t te_bad;     /* a malformed Transfer-Encoding value */
    uint8_t te_final;   /* the last coding so far is "chunked" */
    uint8_t nct;        /* Content-Type field lines */
    uint8_t conn;       /* ZG_HTTP_CONN_* */
    uint8_t expect;     /* ZG_HTTP_EXPECT_* */
    uint64_t content_length;
    /* The first Referer and User-Agent values (offset 0: absent; length
     * up to the CR, trailing white space included), for the access log. */
    uint32_t ref_off, ref_len;
    uint32_t ua_off, ua_len;
} zg_http_head_t;

/* How a request's body is framed. */
typedef enum zg_http_body_e {
    ZG_HTTP_BODY_NONE = 0,
    ZG_HTTP_BODY_LENGTH,  /* Content-Length bytes */
    ZG_HTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked */
} zg_http_body_t;

/* A parsed, checked request head. Pointers are into the input views or
 * into the scratch buffer: valid until either changes. */
typedef struct zg_http_req_s {
    const unsigned char *method;
    size_t method_len;
    const unsigned char *path; /* target path, query excluded ("/" for an
                                  absolute-form target with no path) */
    size_t path_len;
    uint64_t content_length; /* ZG_HTTP_BODY_LENGTH */
    zg_http_body_t body;
    uint8_t minor;     /* 0 or 1 (1.2 .. 1.9 are answered as 1.1) */
    uint8_t keepalive; /* the client allows the connection to stay open */
    uint8_t expect_continue;
    uint8_t is_head;  /* method HEAD */
    uint8_t asterisk; /* "OPTIONS *" */
} zg_http_req_t;

/* Reset h for a new request. */
void zg_http_head_reset(zg_http_head_t *h);

/*
 * Parse the head of the request that starts start bytes into in, resuming
 * at h->off. scratch (ZG_HTTP_SCRATCH(lim) bytes) receives field values
 * that span views. Returns the head's length in bytes (> 0; blank lines
 * before the request, the request line, the field lines and the final
 * CRLF) when it is complete, 0 when more bytes are needed (h keeps the
 * state), or -status on a malformed head: -400 (a method that fills
 * the request line included), -414 (request-target too long), -431 (field
 * section too large, too many fields) or -505 (version); then h->off
 * counts the bytes examined, up to the one that made it so or to the
 * limit reached, however the head was cut into pieces. Never reads
 * outside the views.
 */
long zg_http_parse_head(zg_http_head_t *h, const zg_input_t *in, size_t start,
                        const zg_http_limits_t *lim, unsigned char *scratch);

/* Byte scanner sets the head parser can run on (scan.h). */
typedef enum zg_http_simd_e {
    ZG_HTTP_SIMD_SCALAR = 0, /* portable, one byte at a time */
    ZG_HTTP_SIMD_SSE2,       /* x86-64 only: 16 bytes at a time */
    ZG_HTTP_SIMD_AVX2,       /* x86-64 with AVX2: 32 bytes at a time */
    ZG_HTTP_SIMD_N
} zg_http_simd_t;

/* "scalar", "sse2", "avx2" (the names ZERG_HTTP_SIMD takes). */
const char *zg_http_simd_name(zg_http_simd_t s);

/* Whether s is compiled in and this CPU runs it. Any thread. */
int zg_http_simd_supported(zg_http_simd_t s);

/*
 * Choose the set zg_http_parse_head() uses, for the whole process: the
 * one the environment variable ZERG_HTTP_SIMD names, else the fastest
 * this CPU runs. Returns the set chosen, or -EINVAL (an unknown name) or
 * -ENOTSUP (a set this build or CPU lacks); on an error the fastest is
 * chosen. zg_http_parse_head() calls it once if nobody did. Any thread.
 */
int zg_http_simd_init(void);

/* The set chosen (zg_http_simd_init() if not yet done). */
zg_http_simd_t zg_http_simd_get(void);

/* zg_http_parse_head() on the set s, which must be supported. Every set
 * gives the same results, h included. */
long zg_http_parse_head_simd(zg_http_simd_t s, zg_http_head_t *h,
                             const zg_input_t *in, size_t start,
                             const zg_http_limits_t *lim,
                             unsigned char *scratch);

/*
 * Check a complete head (zg_http_parse_head() returned > 0 for the same
 * in and start) and fill *req: framing (400 for Content-Length with
 * Transfer-Encoding, Transfer-Encoding in HTTP/1.0, "chunked" twice or not
 * the final coding; 501 for an unknown coding before a final "chunked"),
 * Host (400 if missing in 1.1),
 * the request-target form (RFC 9112 3.2; 400 if invalid, 501 for CONNECT),
 * body size (413), Expect (417). Returns 0 or -status.
 */
int zg_http_finish_head(const zg_http_head_t *h, const zg_input_t *in,
                        size_t start, const zg_http_limits_t *lim,
                        unsigned char *scratch, zg_http_req_t *req);

/* Chunked body decoder state. Zero it before a body. */
typedef struct zg_http_chunked_s {
    uint8_t state;
    uint8_t ndigits;    /* hex digits of the size line */
    uint16_t extlen;    /* bytes of chunk extensions on this line */
    uint32_t tr_bytes;  /* trailer section bytes */
    uint32_t tr_fields; /* trailer field lines */
    uint64_t size;      /* the chunk being read */
    uint64_t left;      /* its data bytes not yet seen */
    uint64_t total;     /* body bytes so far */
} zg_http_chunked_t;

/* What zg_http_chunked_feed() stopped for. */
typedef enum zg_http_chev_e {
    ZG_HTTP_CH_MORE = 0, /* every byte given was used; feed more */
    ZG_HTTP_CH_SIZE,     /* a chunk of ev.size (> 0) bytes begins */
    ZG_HTTP_CH_DATA,     /* ev.data/ev.len: chunk data (the last bytes
                            used); d->left == 0 once a chunk is complete */
    ZG_HTTP_CH_DONE,     /* the body, trailers and final CRLF are read */
    ZG_HTTP_CH_ERROR,    /* malformed (ev.status 400), too large (413),
                            trailers too large (431) */
} zg_http_chev_t;

typedef struct zg_http_chunk_ev_s {
    zg_http_chev_t kind;
    int status;
    uint64_t size;
    const unsigned char *data;
    size_t len;
} zg_http_chunk_ev_t;

/*
 * Decode chunked framing from p[0..len). Returns the bytes used (0..len)
 * and says why it stopped in *ev; call again with the rest. Data events
 * point into p. Never reads past p + len.
 */
size_t zg_http_chunked_feed(zg_http_chunked_t *d, const unsigned char *p,
                            size_t len, const zg_http_limits_t *lim,
                            zg_http_chunk_ev_t *ev);

/* Copy n bytes at offset off of in into dst, or return a pointer to them
 * if they lie in one view. off + n must not exceed in->total. */
const unsigned char *zg_http_gather(const zg_input_t *in, size_t off, size_t n,
                                    unsigned char *dst);

#endif /* ZG_HTTP_PARSE_H */
