/* SPDX-License-Identifier: MIT */
/*
 * Description: the stats plugin's request head parser (see req.h).
 */
#include <string.h>

#include "req.h"

static int zg_sr_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Case-insensitive compare of n bytes against a lower-case literal. */
static int zg_sr_ieq(const char *a, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)a[i];

        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        if (ch != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

/* Does the value (trimmed) list token tok (comma-separated)? */
static int zg_sr_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;

    while (i < n) {
        size_t s, e;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && zg_sr_ieq(v + s, tok, tl))
            return 1;
    }
    return 0;
}

int zg_stats_parse(const char *buf, size_t len, zg_stats_req_t *r)
{
    const char *p = buf, *end = buf + len, *eol, *t0, *sp;
    size_t tl;
    int minor;

    memset(r, 0, sizeof(*r));
    if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
        return 400;
    eol = memchr(p, '\r', len);
    if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
        return 400;
    /* method SP target SP HTTP/1.x */
    sp = p;
    while (sp < eol && zg_sr_tchar((unsigned char)*sp))
        sp++;
    if (sp == p || sp >= eol || *sp != ' ')
        return 400;
    if (sp - p == 3 && memcmp(p, "GET", 3) == 0)
        r->method = ZG_SR_GET;
    else if (sp - p == 4 && memcmp(p, "HEAD", 4) == 0)
        r->method = ZG_SR_HEAD;
    else
        r->method = ZG_SR_OTHER;
    t0 = sp + 1;
    sp = t0;
    while (sp < eol && (unsigned char)*sp > ' ' && (unsigned char)*sp < 0x7f)
        sp++;
    if (sp == t0 || sp >= eol || *sp != ' ' || *t0 != '/')
        return 400;
    tl = (size_t)(sp - t0);
    if (eol - (sp + 1) != 8 || memcmp(sp + 1, "HTTP/1.", 7) != 0)
        return 400;
    if (sp[8] != '0' && sp[8] != '1')
        return sp[8] >= '0' && sp[8] <= '9' ? 505 : 400;
    minor = sp[8] - '0';
    r->keepalive = minor == 1;
    /* The path, without the query. */
    {
        const char *q = memchr(t0, '?', tl);
        size_t pl = q != NULL ? (size_t)(q - t0) : tl;

        if (pl == 8 && memcmp(t0, "/metrics", 8) == 0)
            r->target = ZG_SR_METRICS;
        else if (pl == 7 && memcmp(t0, "/status", 7) == 0)
            r->target = ZG_SR_STATUS;
        else
            r->target = ZG_SR_NOTFOUND;
    }
    /* Field lines: name ":" OWS value OWS CRLF, until the empty line. */
    p = eol + 2;
    while (p < end - 2) {
        const char *colon, *v, *ve;

        eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
            return 400;
        colon = p;
        while (colon < eol && zg_sr_tchar((unsigned char)*colon))
            colon++;
        if (colon == p || colon >= eol || *colon != ':')
            return 400;
        for (v = colon + 1; v < eol; v++) {
            unsigned char ch = (unsigned char)*v;

            if (ch == '\0' || ch == '\n' || (ch < ' ' && ch != '\t') ||
                ch == 0x7f)
                return 400;
        }
        v = colon + 1;
        ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (colon - p == 17 && zg_sr_ieq(p, "transfer-encoding", 17))
            return 400; /* no bodies here */
        if (colon - p == 14 && zg_sr_ieq(p, "content-length", 14) &&
            !(ve - v == 1 && *v == '0'))
            return 400;
        if (colon - p == 10 && zg_sr_ieq(p, "connection", 10)) {
            if (zg_sr_has_token(v, (size_t)(ve - v), "close"))
                r->keepalive = 0;
            else if (minor == 0 &&
                     zg_sr_has_token(v, (size_t)(ve - v), "keep-alive"))
                r->keepalive = 1;
        }
        p = eol + 2;
    }
    return 0;
}
