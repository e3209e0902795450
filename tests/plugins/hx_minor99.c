/* SPDX-License-Identifier: MIT */
/*
 * Description: loader fixture, an HTTP handler that needs handler ABI
 * minor 99: the http plugin must refuse it with one found/need line.
 */
#include <zerg/http.h>

static int hx_handle(const zg_http_request_t *req, zg_http_response_t *r)
{
    (void)req;
    (void)r;
    return ZG_HTTP_DONE;
}

static const zg_http_handler_t hx_handler = {
    .magic = ZG_HTTP_HANDLER_MAGIC,
    .abi_major = ZG_HTTP_ABI_MAJOR,
    .abi_minor = 99,
    .struct_size = sizeof(zg_http_handler_t),
    .name = "hx_minor99",
    .version = "1",
    .handle = hx_handle,
};

ZG_EXPORT const zg_http_handler_t *ZG_HTTP_HANDLER_ENTRY(void)
{
    return &hx_handler;
}
