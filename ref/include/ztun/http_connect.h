/* SPDX-License-Identifier: MIT */
/*
 * http_connect.h - HTTP CONNECT tunnel client (RFC 9110 9.3.6, RFC 9112),
 * with Basic proxy authentication (RFC 7617) and base64 (RFC 4648 4).
 *
 * A byte-in/byte-out machine: it never touches a socket. The router sends
 * the request zt_http_connect_request() writes, then feeds every byte the
 * proxy sends to zt_http_connect_input() until the state is READY (a 2xx
 * response head ended; bytes after the blank line are tunnel data, left
 * unconsumed) or FAILED. The response head is scanned, never stored, and
 * its size is bounded (max_header, 16 KiB by default): a proxy that sends
 * more fails with HEADERS_TOO_LARGE having had at most that many bytes
 * consumed. A non-2xx status fails as soon as its status line ends.
 * Interim 1xx responses are skipped (their headers count toward the bound).
 *
 * Outcome to what the TUN client gets (zt_http_connect_refuse()):
 *   403 forbidden                      ICMP admin prohibited (13 / v6 1)
 *   502 bad gateway                    ICMP host unreachable (1 / v6 3)
 *   504 gateway timeout                ICMP host unreachable (1 / v6 3)
 *   407 proxy auth required            RST
 *   any other non-2xx status           RST
 *   malformed status line              RST
 *   headers too large                  RST
 */
#ifndef ZTUN_HTTP_CONNECT_H
#define ZTUN_HTTP_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/refuse.h"

#define ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT 16384u
#define ZT_HTTP_CONNECT_NAME_MAX 255u    /* host names, user names, passwords */
/* "[" IPv6 "]" or a host name, ":" port, NUL. */
#define ZT_HTTP_CONNECT_AUTHORITY_MAX (ZT_HTTP_CONNECT_NAME_MAX + 2u + 6u + 1u)
/* Room that always holds the request: two authorities, Basic credentials
 * (4 * ceil((255 + 1 + 255) / 3) = 684 characters), and the fixed text. */
#define ZT_HTTP_CONNECT_REQUEST_MAX 1536u

enum zt_http_connect_state {
	ZT_HTTP_CONNECT_IN_PROGRESS = 0, /* feed more proxy bytes */
	ZT_HTTP_CONNECT_READY,           /* 2xx: the tunnel is open */
	ZT_HTTP_CONNECT_FAILED,          /* see zt_http_connect_outcome() */
};

enum zt_http_connect_outcome {
	ZT_HTTP_CONNECT_OK = 0,           /* in progress, or ready (2xx) */
	ZT_HTTP_CONNECT_AUTH_REQUIRED,    /* 407 */
	ZT_HTTP_CONNECT_FORBIDDEN,        /* 403 */
	ZT_HTTP_CONNECT_BAD_GATEWAY,      /* 502 */
	ZT_HTTP_CONNECT_GATEWAY_TIMEOUT,  /* 504 */
	ZT_HTTP_CONNECT_HTTP_ERROR,       /* any other non-2xx (status kept) */
	ZT_HTTP_CONNECT_MALFORMED,        /* status line not HTTP/1.x NNN ... */
	ZT_HTTP_CONNECT_HEADERS_TOO_LARGE,/* no end of head within max_header */
	ZT_HTTP_CONNECT__COUNT
};

/*
 * One CONNECT exchange: caller-owned, allocates nothing, holds copies of its
 * configuration. Fields are read-only for the caller; set them through
 * zt_http_connect_init() and the setters below.
 */
struct zt_http_connect {
	/* configuration */
	char authority[ZT_HTTP_CONNECT_AUTHORITY_MAX]; /* "host:port", NUL-terminated */
	bool has_target;
	bool has_auth;
	uint8_t user_len, pass_len;
	char user[ZT_HTTP_CONNECT_NAME_MAX];
	char pass[ZT_HTTP_CONNECT_NAME_MAX];
	size_t max_header;            /* bound on the response head, bytes */
	/* progress */
	uint8_t state;                /* enum zt_http_connect_state */
	uint8_t outcome;              /* enum zt_http_connect_outcome */
	uint8_t pos;                  /* private: place in the status line */
	bool in_headers;              /* private: past the status line */
	bool cr;                      /* private: last byte was a CR */
	uint16_t status;              /* status code, once its line is in */
	size_t total;                 /* bytes of response head consumed */
	size_t line_len;              /* private: bytes of the current header line */
};

/*
 * zt_http_connect_init() - a fresh exchange with no target and no
 * credentials. @max_header bounds the response head (status line, headers
 * and blank line, interim responses included); 0 means 16 KiB.
 */
void zt_http_connect_init(struct zt_http_connect *h, size_t max_header);

/* Target an IP address: "a.b.c.d:port" or "[v6]:port". 0 or -EINVAL. */
int zt_http_connect_set_target_addr(struct zt_http_connect *h,
				    const struct zt_addr *a, uint16_t port);

/*
 * zt_http_connect_set_target_name() - target host name @name (@len bytes,
 * 1..255, copied). Only letters, digits, '-', '.' and '_' are accepted, so a
 * name cannot inject into the request. Return: 0 or -EINVAL.
 */
int zt_http_connect_set_target_name(struct zt_http_connect *h,
				    const char *name, size_t len, uint16_t port);

/*
 * zt_http_connect_set_auth() - send "Proxy-Authorization: Basic ..." with
 * @user (1..255 bytes, no ':' and no control characters, RFC 7617 2) and
 * @pass (0..255 bytes, no control characters). Copied. 0 or -EINVAL.
 */
int zt_http_connect_set_auth(struct zt_http_connect *h, const char *user,
			     size_t user_len, const char *pass, size_t pass_len);

/*
 * zt_http_connect_request() - write the CONNECT request into @out
 * (caller-owned, @cap bytes; ZT_HTTP_CONNECT_REQUEST_MAX always suffices).
 * Return: its length; -EDESTADDRREQ without a target; -ENOSPC.
 */
int zt_http_connect_request(const struct zt_http_connect *h, uint8_t *out,
			    size_t cap);

/*
 * zt_http_connect_input() - consume bytes the proxy sent.
 * @in/@len:  borrowed; never read past @len; any split works
 * @consumed: bytes of @in that were response head. On READY the rest of @in
 *            is tunnel data the caller must keep; while IN_PROGRESS all of
 *            @in is consumed; on FAILED the rest is meaningless.
 * After READY or FAILED further calls consume nothing.
 * Return: enum zt_http_connect_state.
 */
int zt_http_connect_input(struct zt_http_connect *h, const uint8_t *in,
			  size_t len, size_t *consumed);

static inline enum zt_http_connect_outcome
zt_http_connect_outcome(const struct zt_http_connect *h)
{
	return (enum zt_http_connect_outcome)h->outcome;
}

/* Stable lower_snake name of @o for logs; never NULL. */
const char *zt_http_connect_outcome_name(enum zt_http_connect_outcome o);

/* What the TUN client gets for @o (table at the top of this file). */
enum zt_refuse zt_http_connect_refuse(enum zt_http_connect_outcome o);

/*
 * zt_base64_encode() - RFC 4648 section 4 base64 (with '=' padding) of @len
 * bytes at @in into @out (caller-owned, @cap bytes), NUL-terminated.
 * Return: characters written without the NUL; -ENOSPC when @cap is smaller
 * than 4 * ceil(@len / 3) + 1; -EOVERFLOW when that does not fit an int.
 */
int zt_base64_encode(const void *in, size_t len, char *out, size_t cap);

#endif /* ZTUN_HTTP_CONNECT_H */
