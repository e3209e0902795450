/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the proxy plugin's upstream address
 * parser (zg_proxy_addr_split in plugins/proxy/upstream.c). Input: the
 * text of an "address" up to its first NUL, in a heap block of exactly its
 * size plus the NUL (a sanitizer sees any read past it). Oracles: an
 * accepted address is exactly its parts put back together ("host:port" or
 * "[host]:port", the port as written), its port is 1..65535, an IPv4 or
 * IPv6 host parses with inet_pton (an IPv6 one up to its %zone) and a name
 * holds only name characters; a refused one says why in one terminated
 * line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/upstream.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_proxy_addr: %s: \"%s\"\n", what, text);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul != NULL ? (size_t)(nul - data) : size;
    char *text = malloc(n + 1);
    char err[128], back[ZG_PROXY_HOST_MAX + 16];
    zg_proxy_hostport_t hp;
    const char *tail;
    int rc;

    if (text == NULL)
        return 0;
    memcpy(text, data, n);
    text[n] = '\0';
    memset(err, 0x5a, sizeof(err));
    rc = zg_proxy_addr_split(text, &hp, err, sizeof(err));
    if (rc != 0) {
        if (rc != -EINVAL)
            fz_fail("a refusal that is not -EINVAL", text);
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0' ||
            strchr(err, '\n') != NULL)
            fz_fail("a refusal without a one-line reason", text);
        free(text);
        return 0;
    }
    if (hp.port == 0 || hp.host[0] == '\0')
        fz_fail("accepted with no port or host", text);
    tail = strrchr(text, ':');
    if (tail == NULL || (unsigned)atoi(tail + 1) != hp.port)
        fz_fail("the port is not the one written", text);
    snprintf(back, sizeof(back),
             hp.kind == ZG_PROXY_HOST_IPV6 ? "[%s]%s" : "%s%s", hp.host, tail);
    if (strcmp(back, text) != 0)
        fz_fail("the parts do not make the text", text);
    switch (hp.kind) {
    case ZG_PROXY_HOST_IPV4: {
        struct in_addr a;

        if (inet_pton(AF_INET, hp.host, &a) != 1)
            fz_fail("an IPv4 host inet_pton refuses", text);
        break;
    }
    case ZG_PROXY_HOST_IPV6: {
        struct in6_addr a;
        char bare[ZG_PROXY_HOST_MAX + 1];

        snprintf(bare, sizeof(bare), "%s", hp.host);
        bare[strcspn(bare, "%")] = '\0';
        if (inet_pton(AF_INET6, bare, &a) != 1)
            fz_fail("an IPv6 host inet_pton refuses", text);
        break;
    }
    case ZG_PROXY_HOST_NAME:
        if (hp.host[strspn(hp.host, "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-_")] != '\0' ||
            strspn(hp.host, "0123456789.") == strlen(hp.host))
            fz_fail("a name with a character no name has", text);
        break;
    default:
        fz_fail("no kind", text);
    }
    free(text);
    return 0;
}
