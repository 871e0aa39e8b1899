/* SPDX-License-Identifier: MIT */
/*
 * http_connect.c - HTTP CONNECT tunnel client and base64.
 *
 * Theory of operation: the response head is scanned one byte at a time and
 * never stored. The status line "HTTP/1.x NNN reason" is matched by a
 * position counter (literal, version digit, one space, three digits, then an
 * optional reason of visible characters, spaces and tabs); the status code
 * is accumulated as its digits pass. After it, the scanner only needs to
 * find the empty line that ends the head, so it keeps just the length of the
 * current header line and whether the previous byte was a CR: an LF (after
 * an optional CR) ending a line of length zero ends the head. That accepts
 * CRLF CRLF as well as bare LF LF, and is split-independent by construction.
 * Every byte is counted against max_header as it is taken, and a head that
 * has not ended when the count reaches the bound fails there: a proxy that
 * never ends its head fails after exactly max_header bytes.
 *
 * The request is built from the target and credentials stored at set time;
 * names are restricted to characters that cannot end a header line.
 */
#include "ztun/http_connect.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define CR '\r'
#define LF '\n'

static const char http_prefix[] = "HTTP/1.";
#define POS_VERSION 7     /* the minor version digit */
#define POS_SP 8          /* the space before the code */
#define POS_CODE 9        /* three digits at 9, 10, 11 */
#define POS_AFTER_CODE 12 /* SP, or the line end */
#define POS_REASON 13     /* reason phrase until the line end */

void zt_http_connect_init(struct zt_http_connect *h, size_t max_header)
{
	memset(h, 0, sizeof(*h));
	h->max_header = max_header ? max_header :
				     ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT;
	h->state = ZT_HTTP_CONNECT_IN_PROGRESS;
	h->outcome = ZT_HTTP_CONNECT_OK;
}

/* Append ":port" (decimal) at h->authority + @n. */
static void put_port(struct zt_http_connect *h, size_t n, uint16_t port)
{
	char digits[5];
	size_t k = 0;

	h->authority[n++] = ':';
	do {
		digits[k++] = (char)('0' + port % 10);
		port /= 10;
	} while (port);
	while (k)
		h->authority[n++] = digits[--k];
	h->authority[n] = '\0';
}

int zt_http_connect_set_target_addr(struct zt_http_connect *h,
				    const struct zt_addr *a, uint16_t port)
{
	char text[ZT_ADDR_STRLEN];
	size_t n = 0, tl;

	if (a->family != ZT_AF_INET && a->family != ZT_AF_INET6)
		return -EINVAL;
	zt_addr_format(a, text, sizeof(text));
	tl = strlen(text);
	if (tl == 0)
		return -EINVAL;
	if (a->family == ZT_AF_INET6)
		h->authority[n++] = '[';
	memcpy(h->authority + n, text, tl);
	n += tl;
	if (a->family == ZT_AF_INET6)
		h->authority[n++] = ']';
	put_port(h, n, port);
	h->has_target = true;
	return 0;
}

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

int zt_http_connect_set_target_name(struct zt_http_connect *h,
				    const char *name, size_t len, uint16_t port)
{
	if (!name || len == 0 || len > ZT_HTTP_CONNECT_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!host_char(name[i]))
			return -EINVAL;
	memcpy(h->authority, name, len);
	put_port(h, len, port);
	h->has_target = true;
	return 0;
}

/* RFC 7617 2: no control characters in user-id or password. */
static bool cred_ok(const char *s, size_t len, bool colon_ok)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f || (ch == ':' && !colon_ok))
			return false;
	}
	return true;
}

int zt_http_connect_set_auth(struct zt_http_connect *h, const char *user,
			     size_t user_len, const char *pass, size_t pass_len)
{
	if (!user || user_len == 0 || user_len > ZT_HTTP_CONNECT_NAME_MAX ||
	    pass_len > ZT_HTTP_CONNECT_NAME_MAX || (pass_len && !pass) ||
	    !cred_ok(user, user_len, false) ||
	    (pass_len && !cred_ok(pass, pass_len, true)))
		return -EINVAL;
	memcpy(h->user, user, user_len);
	if (pass_len)
		memcpy(h->pass, pass, pass_len);
	h->user_len = (uint8_t)user_len;
	h->pass_len = (uint8_t)pass_len;
	h->has_auth = true;
	return 0;
}

int zt_base64_encode(const void *in, size_t len, char *out, size_t cap)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = in;
	size_t need, n = 0, i = 0;

	if (len > (size_t)(INT_MAX - 1) / 4 * 3 - 3)
		return -EOVERFLOW;
	need = (len + 2) / 3 * 4;
	if (cap < need + 1)
		return -ENOSPC;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			     p[i + 2];

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
		out[n++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = '=';
		out[n++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
		out[n++] = '=';
	}
	out[n] = '\0';
	return (int)n;
}

/* Append @len bytes of @s at @out + *n if they fit in @cap. */
static bool put(uint8_t *out, size_t cap, size_t *n, const char *s, size_t len)
{
	if (len > cap - *n)
		return false;
	memcpy(out + *n, s, len);
	*n += len;
	return true;
}

#define PUTS(s) put(out, cap, &n, (s), strlen(s))

int zt_http_connect_request(const struct zt_http_connect *h, uint8_t *out,
			    size_t cap)
{
	char cred[2 * ZT_HTTP_CONNECT_NAME_MAX + 1];
	char b64[(sizeof(cred) + 2) / 3 * 4 + 1];
	size_t n = 0;
	bool ok;

	if (!h->has_target)
		return -EDESTADDRREQ;
	ok = PUTS("CONNECT ") && PUTS(h->authority) && PUTS(" HTTP/1.1\r\n") &&
	     PUTS("Host: ") && PUTS(h->authority) && PUTS("\r\n");
	if (ok && h->has_auth) {
		size_t cl = 0;
		int bl;

		memcpy(cred, h->user, h->user_len);
		cl += h->user_len;
		cred[cl++] = ':';
		memcpy(cred + cl, h->pass, h->pass_len);
		cl += h->pass_len;
		bl = zt_base64_encode(cred, cl, b64, sizeof(b64));
		ok = bl > 0 && PUTS("Proxy-Authorization: Basic ") &&
		     put(out, cap, &n, b64, (size_t)bl) && PUTS("\r\n");
	}
	ok = ok && PUTS("\r\n");
	return ok ? (int)n : -ENOSPC;
}

static void finish(struct zt_http_connect *h, enum zt_http_connect_state st,
		   enum zt_http_connect_outcome o)
{
	h->state = (uint8_t)st;
	h->outcome = (uint8_t)o;
}

/* The status line ended: go on to the headers, or fail on a non-2xx. */
static void status_done(struct zt_http_connect *h)
{
	unsigned cls = h->status / 100;

	h->in_headers = true;
	h->line_len = 0;
	if (cls == 1 || cls == 2)
		return;
	switch (h->status) {
	case 403:
		finish(h, ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_FORBIDDEN);
		break;
	case 407:
		finish(h, ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_AUTH_REQUIRED);
		break;
	case 502:
		finish(h, ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_BAD_GATEWAY);
		break;
	case 504:
		finish(h, ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_GATEWAY_TIMEOUT);
		break;
	default:
		finish(h, ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_HTTP_ERROR);
		break;
	}
}

static void malformed(struct zt_http_connect *h)
{
	finish(h, ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_MALFORMED);
}

/* One byte of the status line. */
static void status_byte(struct zt_http_connect *h, uint8_t b)
{
	if (h->cr) {
		h->cr = false;
		if (b == LF && h->pos >= POS_AFTER_CODE)
			status_done(h);
		else
			malformed(h);
		return;
	}
	if (h->pos < POS_VERSION) {
		if (b != (uint8_t)http_prefix[h->pos])
			malformed(h);
		h->pos++;
		return;
	}
	switch (h->pos) {
	case POS_VERSION:
		if (b < '0' || b > '9')
			malformed(h);
		h->pos++;
		return;
	case POS_SP:
		if (b != ' ')
			malformed(h);
		h->pos++;
		return;
	case POS_CODE:
	case POS_CODE + 1:
	case POS_CODE + 2:
		if (b < '0' || b > '9' || (h->pos == POS_CODE && (b < '1' || b > '5'))) {
			malformed(h);
			return;
		}
		h->status = (uint16_t)(h->status * 10 + (b - '0'));
		h->pos++;
		return;
	case POS_AFTER_CODE:
		if (b == ' ')
			h->pos = POS_REASON;
		else if (b == CR)
			h->cr = true;
		else if (b == LF)
			status_done(h);
		else
			malformed(h);
		return;
	default: /* POS_REASON */
		if (b == CR)
			h->cr = true;
		else if (b == LF)
			status_done(h);
		else if (b < 0x20 ? b != '\t' : b == 0x7f)
			malformed(h);
		return;
	}
}

/* One byte of the header block: only line ends matter. */
static void header_byte(struct zt_http_connect *h, uint8_t b)
{
	if (h->cr) {
		h->cr = false;
		if (b != LF)
			h->line_len++; /* a lone CR is line content */
	}
	if (b == CR) {
		h->cr = true;
		return;
	}
	if (b != LF) {
		h->line_len++;
		return;
	}
	if (h->line_len) {
		h->line_len = 0;
		return;
	}
	/* The empty line: the head ends here. */
	if (h->status / 100 == 1) {
		/* Interim response: a real status line follows. */
		h->in_headers = false;
		h->pos = 0;
		h->status = 0;
		return;
	}
	finish(h, ZT_HTTP_CONNECT_READY, ZT_HTTP_CONNECT_OK);
}

int zt_http_connect_input(struct zt_http_connect *h, const uint8_t *in,
			  size_t len, size_t *consumed)
{
	size_t i = 0;

	while (i < len && h->state == ZT_HTTP_CONNECT_IN_PROGRESS) {
		h->total++;
		if (h->in_headers)
			header_byte(h, in[i++]);
		else
			status_byte(h, in[i++]);
		/* The bound is reached and the head has not ended. */
		if (h->state == ZT_HTTP_CONNECT_IN_PROGRESS &&
		    h->total >= h->max_header)
			finish(h, ZT_HTTP_CONNECT_FAILED,
			       ZT_HTTP_CONNECT_HEADERS_TOO_LARGE);
	}
	*consumed = i;
	return h->state;
}

static const char *const outcome_names[ZT_HTTP_CONNECT__COUNT] = {
	[ZT_HTTP_CONNECT_OK] = "ok",
	[ZT_HTTP_CONNECT_AUTH_REQUIRED] = "proxy_auth_required",
	[ZT_HTTP_CONNECT_FORBIDDEN] = "forbidden",
	[ZT_HTTP_CONNECT_BAD_GATEWAY] = "bad_gateway",
	[ZT_HTTP_CONNECT_GATEWAY_TIMEOUT] = "gateway_timeout",
	[ZT_HTTP_CONNECT_HTTP_ERROR] = "http_error",
	[ZT_HTTP_CONNECT_MALFORMED] = "malformed_status_line",
	[ZT_HTTP_CONNECT_HEADERS_TOO_LARGE] = "headers_too_large",
};

const char *zt_http_connect_outcome_name(enum zt_http_connect_outcome o)
{
	if ((unsigned)o >= ZT_HTTP_CONNECT__COUNT || !outcome_names[o])
		return "unknown";
	return outcome_names[o];
}

enum zt_refuse zt_http_connect_refuse(enum zt_http_connect_outcome o)
{
	switch (o) {
	case ZT_HTTP_CONNECT_FORBIDDEN:
		return ZT_REFUSE_ADMIN_PROHIBITED;
	case ZT_HTTP_CONNECT_BAD_GATEWAY:
	case ZT_HTTP_CONNECT_GATEWAY_TIMEOUT:
		return ZT_REFUSE_HOST_UNREACH;
	default:
		return ZT_REFUSE_RST;
	}
}
