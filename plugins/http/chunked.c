/* SPDX-License-Identifier: MIT */
/*
 * Description: the chunked transfer coding decoder (RFC 9112 7.1, see
 * parse.h): a byte-at-a-time state machine for sizes, extensions and
 * trailers that hands chunk data back in one piece per call, so a body is
 * dropped or echoed without copying.
 */
#include "parse.h"

#define ZG_HTTP_MAX_CHUNK_EXT 4096 /* extension bytes per chunk line */

#define T_TOKEN ZG_HTTP_C_TOKEN
#define T_FVAL  ZG_HTTP_C_FVAL
#define T_HEX   ZG_HTTP_C_HEX
#define T_QTEXT ZG_HTTP_C_QTEXT

/* Chunked decoder states. 0 must be the start. */
enum {
    C_SIZE0 = 0, /* first hex digit of a chunk size */
    C_SIZE,
    C_EXT_PRE,   /* BWS before ';' */
    C_EXT_NAME0, /* BWS before an extension name */
    C_EXT_NAME,
    C_EXT_NBWS, /* BWS after a name: '=' or ';' follows */
    C_EXT_VAL0, /* BWS before a value */
    C_EXT_TOK,
    C_EXT_Q,  /* in a quoted-string */
    C_EXT_QP, /* after a backslash */
    C_EXT_QEND,
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TR0, /* start of a trailer line, or CR of the last line */
    C_TR_NAME,
    C_TR_VAL,
    C_TR_LF,
    C_END_LF,
    C_DONE,
    C_ERROR,
};

static int zg_http_hexval(unsigned char c)
{
    if (c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

size_t zg_http_chunked_feed(zg_http_chunked_t *d, const unsigned char *p,
                            size_t len, const zg_http_limits_t *lim,
                            zg_http_chunk_ev_t *ev)
{
    size_t i = 0;
    unsigned char c;
    int status = 400;

    ev->kind = ZG_HTTP_CH_MORE;
    if (d->state == C_DONE) {
        ev->kind = ZG_HTTP_CH_DONE;
        return 0;
    }
    if (d->state == C_ERROR)
        goto fail;
    while (i < len) {
        if (d->state == C_DATA) {
            size_t take = len - i;

            if (take > d->left)
                take = (size_t)d->left;
            ev->kind = ZG_HTTP_CH_DATA;
            ev->data = p + i;
            ev->len = take;
            d->left -= take;
            if (d->left == 0)
                d->state = C_DATA_CR;
            return i + take;
        }
        c = p[i++];
        if (d->state >= C_EXT_PRE && d->state <= C_EXT_QEND &&
            ++d->extlen > ZG_HTTP_MAX_CHUNK_EXT)
            goto fail;
        if (d->state >= C_TR0 && d->state <= C_END_LF &&
            ++d->tr_bytes > lim->max_header_size) {
            status = 431;
            goto fail;
        }
        switch (d->state) {
        case C_SIZE0:
            if (!(zg_http_ctab[c] & T_HEX))
                goto fail; /* no sign, no space, no "0x" */
            d->size = (uint64_t)zg_http_hexval(c);
            d->ndigits = 1;
            d->state = C_SIZE;
            break;
        case C_SIZE:
            if (zg_http_ctab[c] & T_HEX) {
                if (++d->ndigits > 16)
                    goto fail; /* would overflow 64 bits */
                d->size = d->size << 4 | (uint64_t)zg_http_hexval(c);
            } else if (c == '\r') {
                d->state = C_SIZE_LF;
            } else if (c == ';') {
                d->state = C_EXT_NAME0;
            } else if (c == ' ' || c == '\t') {
                d->state = C_EXT_PRE;
            } else {
                goto fail; /* '_', 'x', a bare LF, ... */
            }
            break;
        case C_EXT_PRE:
            if (c == ';')
                d->state = C_EXT_NAME0;
            else if (c != ' ' && c != '\t')
                goto fail;
            break;
        case C_EXT_NAME0:
            if (zg_http_ctab[c] & T_TOKEN)
                d->state = C_EXT_NAME;
            else if (c != ' ' && c != '\t')
                goto fail;
            break;
        case C_EXT_NAME:
            if (zg_http_ctab[c] & T_TOKEN)
                break;
            if (c == '\r')
                d->state = C_SIZE_LF;
            else if (c == ';')
                d->state = C_EXT_NAME0;
            else if (c == '=')
                d->state = C_EXT_VAL0;
            else if (c == ' ' || c == '\t')
                d->state = C_EXT_NBWS;
            else
                goto fail;
            break;
        case C_EXT_NBWS:
            if (c == ';')
                d->state = C_EXT_NAME0;
            else if (c == '=')
                d->state = C_EXT_VAL0;
            else if (c != ' ' && c != '\t')
                goto fail;
            break;
        case C_EXT_VAL0:
            if (zg_http_ctab[c] & T_TOKEN)
                d->state = C_EXT_TOK;
            else if (c == '"')
                d->state = C_EXT_Q;
            else if (c != ' ' && c != '\t')
                goto fail;
            break;
        case C_EXT_TOK:
        case C_EXT_QEND:
            if (d->state == C_EXT_TOK && (zg_http_ctab[c] & T_TOKEN))
                break;
            if (c == '\r')
                d->state = C_SIZE_LF;
            else if (c == ';')
                d->state = C_EXT_NAME0;
            else if (c == ' ' || c == '\t')
                d->state = C_EXT_PRE;
            else
                goto fail;
            break;
        case C_EXT_Q:
            if (c == '"')
                d->state = C_EXT_QEND;
            else if (c == '\\')
                d->state = C_EXT_QP;
            else if (!(zg_http_ctab[c] & T_QTEXT))
                goto fail;
            break;
        case C_EXT_QP:
            if (!(zg_http_ctab[c] & T_FVAL))
                goto fail;
            d->state = C_EXT_Q;
            break;
        case C_SIZE_LF:
            if (c != '\n')
                goto fail;
            if (d->size == 0) {
                d->state = C_TR0;
                break;
            }
            if (d->size > lim->max_body_size - d->total) {
                status = 413;
                goto fail;
            }
            d->total += d->size;
            d->left = d->size;
            d->state = C_DATA;
            ev->kind = ZG_HTTP_CH_SIZE;
            ev->size = d->size;
            return i;
        case C_DATA_CR:
            if (c != '\r')
                goto fail;
            d->state = C_DATA_LF;
            break;
        case C_DATA_LF:
            if (c != '\n')
                goto fail;
            d->state = C_SIZE0;
            d->extlen = 0;
            break;
        case C_TR0:
            if (c == '\r') {
                d->state = C_END_LF;
            } else if (zg_http_ctab[c] & T_TOKEN) {
                if (++d->tr_fields > lim->max_headers) {
                    status = 431;
                    goto fail;
                }
                d->state = C_TR_NAME;
            } else {
                goto fail; /* obs-fold, an empty name, a bare LF */
            }
            break;
        case C_TR_NAME:
            if (c == ':')
                d->state = C_TR_VAL;
            else if (!(zg_http_ctab[c] & T_TOKEN))
                goto fail;
            break;
        case C_TR_VAL:
            if (c == '\r')
                d->state = C_TR_LF;
            else if (!(zg_http_ctab[c] & T_FVAL))
                goto fail;
            break;
        case C_TR_LF:
            if (c != '\n')
                goto fail;
            d->state = C_TR0;
            break;
        case C_END_LF:
            if (c != '\n')
                goto fail;
            d->state = C_DONE;
            ev->kind = ZG_HTTP_CH_DONE;
            return i;
        default:
            goto fail;
        }
    }
    return i;
fail:
    d->state = C_ERROR;
    ev->kind = ZG_HTTP_CH_ERROR;
    ev->status = status;
    return i;
}
