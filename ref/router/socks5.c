/* SPDX-License-Identifier: MIT */
/*
 * socks5.c - SOCKS5 client handshake (RFC 1928, RFC 1929) and UDP
 * encapsulation.
 *
 * Theory of operation: the handshake is three request/reply exchanges, and
 * the client only ever waits for one reply at a time. Each reply is taken
 * one byte at a time into a small fixed buffer (the longest reply, a domain
 * BND.ADDR, is 4 + 1 + 255 + 2 bytes), and every byte is judged as soon as
 * it arrives: a wrong VER or a failure REP ends the handshake without
 * waiting for the rest, and ATYP (then the domain length) fixes how many
 * bytes the reply has, so the buffer can never be overrun and the machine
 * never takes a byte past the end of the reply. That makes the result
 * independent of how the proxy's bytes were split, and leaves bytes after
 * the final reply (tunnel data) to the caller.
 *
 * Output room is checked before anything is consumed: a call either takes
 * its bytes and writes every request they trigger, or does nothing.
 */
#include "ztun/socks5.h"

#include <errno.h>
#include <string.h>

enum {
	PH_INIT = 0, /* zt_socks5_start() not called */
	PH_METHOD,   /* waiting for VER METHOD */
	PH_AUTH,     /* waiting for VER STATUS (RFC 1929) */
	PH_REPLY,    /* waiting for the command reply */
	PH_DONE,     /* READY or FAILED */
};

#define SOCKS_VER 5
#define AUTH_VER 1
#define METHOD_NONE 0x00
#define METHOD_USERPASS 0x02
#define METHOD_REJECT 0xff

void zt_socks5_addr_ip(struct zt_socks5_addr *out, const struct zt_addr *ip,
		       uint16_t port)
{
	memset(out, 0, sizeof(*out));
	out->atyp = ip->family == ZT_AF_INET ? ZT_SOCKS5_ATYP_IPV4 :
					       ZT_SOCKS5_ATYP_IPV6;
	out->ip = *ip;
	out->port = port;
}

int zt_socks5_addr_name(struct zt_socks5_addr *out, const char *name,
			size_t len, uint16_t port)
{
	if (!name || len == 0 || len > ZT_SOCKS5_NAME_MAX)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->atyp = ZT_SOCKS5_ATYP_DOMAIN;
	out->name_len = (uint8_t)len;
	memcpy(out->name, name, len);
	out->port = port;
	return 0;
}

/* Is @a something we can put on the wire? */
static bool addr_valid(const struct zt_socks5_addr *a)
{
	switch (a->atyp) {
	case ZT_SOCKS5_ATYP_IPV4:
		return a->ip.family == ZT_AF_INET;
	case ZT_SOCKS5_ATYP_IPV6:
		return a->ip.family == ZT_AF_INET6;
	case ZT_SOCKS5_ATYP_DOMAIN:
		return a->name_len > 0;
	default:
		return false;
	}
}

/* Wire length of ATYP DST.ADDR DST.PORT for a valid @a. */
static size_t addr_wire_len(const struct zt_socks5_addr *a)
{
	switch (a->atyp) {
	case ZT_SOCKS5_ATYP_IPV4:
		return 1 + 4 + 2;
	case ZT_SOCKS5_ATYP_IPV6:
		return 1 + 16 + 2;
	default:
		return 1 + 1 + (size_t)a->name_len + 2;
	}
}

/* Write ATYP DST.ADDR DST.PORT of a valid @a at @p (room checked). */
static size_t addr_put(const struct zt_socks5_addr *a, uint8_t *p)
{
	size_t n = 0;

	p[n++] = a->atyp;
	switch (a->atyp) {
	case ZT_SOCKS5_ATYP_IPV4:
		memcpy(p + n, a->ip.bytes, 4);
		n += 4;
		break;
	case ZT_SOCKS5_ATYP_IPV6:
		memcpy(p + n, a->ip.bytes, 16);
		n += 16;
		break;
	default:
		p[n++] = a->name_len;
		memcpy(p + n, a->name, a->name_len);
		n += a->name_len;
		break;
	}
	zt_wr16(p + n, a->port);
	return n + 2;
}

/*
 * addr_get() - decode ATYP ADDR PORT from @p, whose length (@len) the caller
 * already matched to what ATYP (and the domain length) announce.
 */
static void addr_get(const uint8_t *p, size_t len, struct zt_socks5_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->atyp = p[0];
	switch (p[0]) {
	case ZT_SOCKS5_ATYP_IPV4:
		a->ip = zt_addr_v4(p + 1);
		break;
	case ZT_SOCKS5_ATYP_IPV6:
		a->ip = zt_addr_v6(p + 1);
		break;
	default:
		a->name_len = p[1];
		memcpy(a->name, p + 2, p[1]);
		break;
	}
	a->port = zt_rd16(p + len - 2);
}

void zt_socks5_init(struct zt_socks5 *c, enum zt_socks5_cmd cmd)
{
	memset(c, 0, sizeof(*c));
	c->cmd = (uint8_t)cmd;
	c->phase = PH_INIT;
	c->state = ZT_SOCKS5_IN_PROGRESS;
	c->outcome = ZT_SOCKS5_OK;
	c->target.atyp = ZT_SOCKS5_ATYP_IPV4;
	c->target.ip.family = ZT_AF_INET; /* 0.0.0.0:0 */
}

int zt_socks5_set_target(struct zt_socks5 *c,
			 const struct zt_socks5_addr *target)
{
	if (c->phase != PH_INIT || !addr_valid(target))
		return -EINVAL;
	c->target = *target;
	c->has_target = true;
	return 0;
}

int zt_socks5_set_auth(struct zt_socks5 *c, const void *user, size_t user_len,
		       const void *pass, size_t pass_len)
{
	if (c->phase != PH_INIT || !user || user_len == 0 ||
	    user_len > ZT_SOCKS5_NAME_MAX || pass_len > ZT_SOCKS5_NAME_MAX ||
	    (pass_len && !pass))
		return -EINVAL;
	memcpy(c->user, user, user_len);
	if (pass_len)
		memcpy(c->pass, pass, pass_len);
	c->user_len = (uint8_t)user_len;
	c->pass_len = (uint8_t)pass_len;
	c->has_auth = true;
	return 0;
}

void zt_socks5_set_pipelined(struct zt_socks5 *c)
{
	c->pipelined = true;
}

static size_t auth_req_len(const struct zt_socks5 *c);
static size_t cmd_req_len(const struct zt_socks5 *c);
static size_t put_auth_req(const struct zt_socks5 *c, uint8_t *p);
static size_t put_cmd_req(const struct zt_socks5 *c, uint8_t *p);

/* Pipelined: one method offered, then every request it leads to. */
static int start_pipelined(struct zt_socks5 *c, uint8_t *out, size_t cap)
{
	size_t n = 3 + (c->has_auth ? auth_req_len(c) : 0) + cmd_req_len(c);

	if (cap < n)
		return -ENOSPC;
	out[0] = SOCKS_VER;
	out[1] = 1;
	out[2] = c->has_auth ? METHOD_USERPASS : METHOD_NONE;
	n = 3;
	if (c->has_auth)
		n += put_auth_req(c, out + n);
	n += put_cmd_req(c, out + n);
	c->phase = PH_METHOD;
	c->have = 0;
	c->need = 2;
	return (int)n;
}

int zt_socks5_start(struct zt_socks5 *c, uint8_t *out, size_t cap)
{
	size_t n = c->has_auth ? 4 : 3;

	if (c->phase != PH_INIT)
		return -EALREADY;
	if (c->cmd != ZT_SOCKS5_CMD_CONNECT &&
	    c->cmd != ZT_SOCKS5_CMD_UDP_ASSOCIATE)
		return -EINVAL;
	if (c->cmd == ZT_SOCKS5_CMD_CONNECT && !c->has_target)
		return -EDESTADDRREQ;
	if (c->pipelined)
		return start_pipelined(c, out, cap);
	if (cap < n)
		return -ENOSPC;
	out[0] = SOCKS_VER;
	out[1] = c->has_auth ? 2 : 1;
	out[2] = METHOD_NONE;
	if (c->has_auth)
		out[3] = METHOD_USERPASS;
	c->phase = PH_METHOD;
	c->have = 0;
	c->need = 2;
	return (int)n;
}

static size_t auth_req_len(const struct zt_socks5 *c)
{
	return 3 + (size_t)c->user_len + c->pass_len;
}

static size_t cmd_req_len(const struct zt_socks5 *c)
{
	return 3 + addr_wire_len(&c->target);
}

/* Bytes the rest of the handshake may still write from phase @ph. */
static size_t out_needed(const struct zt_socks5 *c)
{
	if (c->pipelined)
		return 0; /* all of it went with the greeting */
	switch (c->phase) {
	case PH_METHOD:
		return (c->has_auth ? auth_req_len(c) : 0) + cmd_req_len(c);
	case PH_AUTH:
		return cmd_req_len(c);
	default:
		return 0;
	}
}

static size_t put_auth_req(const struct zt_socks5 *c, uint8_t *p)
{
	size_t n = 0;

	p[n++] = AUTH_VER;
	p[n++] = c->user_len;
	memcpy(p + n, c->user, c->user_len);
	n += c->user_len;
	p[n++] = c->pass_len;
	memcpy(p + n, c->pass, c->pass_len);
	return n + c->pass_len;
}

static size_t put_cmd_req(const struct zt_socks5 *c, uint8_t *p)
{
	p[0] = SOCKS_VER;
	p[1] = c->cmd;
	p[2] = 0;
	return 3 + addr_put(&c->target, p + 3);
}

static void fail(struct zt_socks5 *c, enum zt_socks5_outcome o)
{
	c->phase = PH_DONE;
	c->state = ZT_SOCKS5_FAILED;
	c->outcome = (uint8_t)o;
}

static void next_phase(struct zt_socks5 *c, uint8_t phase, uint16_t need)
{
	c->phase = phase;
	c->have = 0;
	c->need = need;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * reply_byte() - judge the newest byte (c->buf[c->have - 1]) of the command
 * reply, and finish the handshake once the whole reply is in.
 */
static void reply_byte(struct zt_socks5 *c)
{
	uint8_t b = c->buf[c->have - 1];

	switch (c->have) {
	case 1:
		if (b != SOCKS_VER)
			fail(c, ZT_SOCKS5_BAD_VERSION);
		return;
	case 2:
		c->rep = b;
		if (b >= 1 && b <= 8)
			fail(c, (enum zt_socks5_outcome)b);
		else if (b > 8)
			fail(c, ZT_SOCKS5_UNKNOWN_REPLY);
		return;
	case 3:
		if (b != 0)
			fail(c, ZT_SOCKS5_MALFORMED);
		return;
	case 4:
		if (b == ZT_SOCKS5_ATYP_IPV4)
			c->need = 4 + 4 + 2;
		else if (b == ZT_SOCKS5_ATYP_IPV6)
			c->need = 4 + 16 + 2;
		else if (b == ZT_SOCKS5_ATYP_DOMAIN)
			c->need = 5;
		else
			fail(c, ZT_SOCKS5_MALFORMED);
		return;
	case 5:
		if (c->buf[3] == ZT_SOCKS5_ATYP_DOMAIN) {
			/* an empty name too: BND only informs a CONNECT,
			 * and a UDP relay by name is the proxy's host
			 * (zt_socks5_relay_endpoint()) */
			c->need = (uint16_t)(5 + b + 2);
			return;
		}
		break;
	default:
		break;
	}
	if (c->have < c->need)
		return;
	addr_get(c->buf + 3, (size_t)c->need - 3, &c->bnd);
	/* ::ffff:0.0.0.0 too: a mapped address is the IPv4 one it maps */
	c->bnd_unspecified = c->bnd.atyp != ZT_SOCKS5_ATYP_DOMAIN &&
			     (all_zero(c->bnd.ip.bytes, 16) ||
			      (zt_addr_is_v4_mapped(&c->bnd.ip) &&
			       all_zero(c->bnd.ip.bytes + 12, 4)));
	c->phase = PH_DONE;
	c->state = ZT_SOCKS5_READY;
	c->outcome = ZT_SOCKS5_OK;
}

/*
 * step() - take one byte into the current reply. Writes at @out + *olen any
 * request the byte completes (room was checked by the caller).
 */
static void step(struct zt_socks5 *c, uint8_t b, uint8_t *out, size_t *olen)
{
	c->buf[c->have++] = b;
	switch (c->phase) {
	case PH_METHOD:
		if (c->have == 1) {
			if (b != SOCKS_VER)
				fail(c, ZT_SOCKS5_BAD_VERSION);
			return;
		}
		if (c->pipelined && b != METHOD_REJECT &&
		    b != (c->has_auth ? METHOD_USERPASS : METHOD_NONE)) {
			/* the proxy would take our next request for another */
			fail(c, ZT_SOCKS5_UNOFFERED_METHOD);
		} else if (b == METHOD_NONE) {
			if (!c->pipelined)
				*olen += put_cmd_req(c, out + *olen);
			next_phase(c, PH_REPLY, 4);
		} else if (b == METHOD_USERPASS && c->has_auth) {
			if (!c->pipelined)
				*olen += put_auth_req(c, out + *olen);
			next_phase(c, PH_AUTH, 2);
		} else if (b == METHOD_REJECT) {
			fail(c, ZT_SOCKS5_NO_ACCEPTABLE_METHOD);
		} else {
			fail(c, ZT_SOCKS5_UNOFFERED_METHOD);
		}
		return;
	case PH_AUTH:
		if (c->have == 1) {
			if (b != AUTH_VER)
				fail(c, ZT_SOCKS5_BAD_VERSION);
			return;
		}
		if (b != 0) {
			fail(c, ZT_SOCKS5_AUTH_FAILED);
			return;
		}
		if (!c->pipelined)
			*olen += put_cmd_req(c, out + *olen);
		next_phase(c, PH_REPLY, 4);
		return;
	case PH_REPLY:
		reply_byte(c);
		return;
	default:
		return;
	}
}

int zt_socks5_input(struct zt_socks5 *c, const uint8_t *in, size_t len,
		    uint8_t *out, size_t cap, size_t *out_len, size_t *consumed)
{
	size_t i = 0, olen = 0;

	*out_len = 0;
	*consumed = 0;
	if (c->phase == PH_INIT)
		return -EINVAL;
	if (c->phase == PH_DONE || len == 0)
		return c->state;
	if (cap < out_needed(c))
		return -ENOSPC;
	while (i < len && c->phase != PH_DONE)
		step(c, in[i++], out, &olen);
	*out_len = olen;
	*consumed = i;
	return c->state;
}

static const char *const outcome_names[ZT_SOCKS5__COUNT] = {
	[ZT_SOCKS5_OK] = "ok",
	[ZT_SOCKS5_GENERAL_FAILURE] = "general_failure",
	[ZT_SOCKS5_NOT_ALLOWED] = "not_allowed",
	[ZT_SOCKS5_NET_UNREACH] = "network_unreachable",
	[ZT_SOCKS5_HOST_UNREACH] = "host_unreachable",
	[ZT_SOCKS5_CONN_REFUSED] = "connection_refused",
	[ZT_SOCKS5_TTL_EXPIRED] = "ttl_expired",
	[ZT_SOCKS5_CMD_UNSUPPORTED] = "command_not_supported",
	[ZT_SOCKS5_ATYP_UNSUPPORTED] = "address_type_not_supported",
	[ZT_SOCKS5_UNKNOWN_REPLY] = "unknown_reply",
	[ZT_SOCKS5_NO_ACCEPTABLE_METHOD] = "no_acceptable_method",
	[ZT_SOCKS5_UNOFFERED_METHOD] = "unoffered_method",
	[ZT_SOCKS5_AUTH_FAILED] = "auth_failed",
	[ZT_SOCKS5_BAD_VERSION] = "bad_version",
	[ZT_SOCKS5_MALFORMED] = "malformed_reply",
};

const char *zt_socks5_outcome_name(enum zt_socks5_outcome o)
{
	if ((unsigned)o >= ZT_SOCKS5__COUNT || !outcome_names[o])
		return "unknown";
	return outcome_names[o];
}

enum zt_refuse zt_socks5_refuse(enum zt_socks5_outcome o)
{
	switch (o) {
	case ZT_SOCKS5_NOT_ALLOWED:
		return ZT_REFUSE_ADMIN_PROHIBITED;
	case ZT_SOCKS5_NET_UNREACH:
		return ZT_REFUSE_NET_UNREACH;
	case ZT_SOCKS5_HOST_UNREACH:
	case ZT_SOCKS5_TTL_EXPIRED:
		return ZT_REFUSE_HOST_UNREACH;
	default:
		return ZT_REFUSE_RST;
	}
}

/* 127.0.0.0/8 or ::1. */
static bool is_loopback(const struct zt_addr *a)
{
	static const uint8_t v6[16] = { [15] = 1 };

	return a->family == ZT_AF_INET ? a->bytes[0] == 127 :
	       a->family == ZT_AF_INET6 && memcmp(a->bytes, v6, 16) == 0;
}

/* ::ffff:a.b.c.d as a.b.c.d (RFC 4291 2.5.5.2): the address replies
 * come from. */
static void unmap_v4(struct zt_socks5_addr *a)
{
	if (a->atyp == ZT_SOCKS5_ATYP_IPV6 && zt_addr_is_v4_mapped(&a->ip)) {
		a->ip = zt_addr_v4(a->ip.bytes + 12);
		a->atyp = ZT_SOCKS5_ATYP_IPV4;
	}
}

int zt_socks5_relay_endpoint(const struct zt_socks5 *c,
			     const struct zt_endpoint *proxy,
			     struct zt_socks5_addr *out)
{
	struct zt_socks5_addr bnd = c->bnd;
	bool loopback;

	if (c->state != ZT_SOCKS5_READY ||
	    c->cmd != ZT_SOCKS5_CMD_UDP_ASSOCIATE)
		return -EINVAL;
	if (bnd.port == 0)
		return -EINVAL; /* no relay: nothing could be sent there */
	unmap_v4(&bnd);
	/* a loopback BND.ADDR is the proxy's own side of a NAT or a
	 * container, unless the proxy is on loopback itself; a domain is
	 * taken for the proxy's own name (zt_socks5_relay_endpoint's doc) */
	loopback = bnd.atyp != ZT_SOCKS5_ATYP_DOMAIN &&
		   is_loopback(&bnd.ip) &&
		   (proxy->name[0] || !is_loopback(&proxy->addr));
	if (!c->bnd_unspecified && !loopback &&
	    bnd.atyp != ZT_SOCKS5_ATYP_DOMAIN) {
		/* a group, a broadcast or class E address is no relay:
		 * datagrams sent there would never reach the proxy */
		if (!zt_addr_is_host(&bnd.ip) && !is_loopback(&bnd.ip))
			return -EINVAL;
		*out = bnd;
		return 0;
	}
	if (proxy->name[0]) {
		const char *nul = memchr(proxy->name, 0, sizeof(proxy->name));

		return zt_socks5_addr_name(out, proxy->name,
					   nul ? (size_t)(nul - proxy->name) :
						 sizeof(proxy->name),
					   c->bnd.port);
	}
	if (proxy->addr.family != ZT_AF_INET && proxy->addr.family != ZT_AF_INET6)
		return -EINVAL;
	zt_socks5_addr_ip(out, &proxy->addr, c->bnd.port);
	return 0;
}

static const char *const udp_names[ZT_SOCKS5_UDP__COUNT] = {
	[ZT_SOCKS5_UDP_OK] = "ok",
	[ZT_SOCKS5_UDP_TRUNCATED] = "truncated",
	[ZT_SOCKS5_UDP_BAD_RSV] = "bad_rsv",
	[ZT_SOCKS5_UDP_FRAGMENTED] = "fragmented",
	[ZT_SOCKS5_UDP_BAD_ATYP] = "bad_atyp",
	[ZT_SOCKS5_UDP_BAD_ADDR] = "bad_addr",
};

const char *zt_socks5_udp_result_name(enum zt_socks5_udp_result r)
{
	if ((unsigned)r >= ZT_SOCKS5_UDP__COUNT || !udp_names[r])
		return "unknown";
	return udp_names[r];
}

int zt_socks5_udp_wrap(const struct zt_socks5_addr *dst, const uint8_t *payload,
		       size_t len, uint8_t *out, size_t cap)
{
	size_t hdr;

	if (!addr_valid(dst) || (len && !payload))
		return -EINVAL;
	hdr = 3 + addr_wire_len(dst);
	if (cap < hdr || len > cap - hdr || len > (size_t)INT32_MAX - hdr)
		return -ENOSPC;
	out[0] = 0;
	out[1] = 0;
	out[2] = 0; /* FRAG: a whole datagram */
	addr_put(dst, out + 3);
	if (len)
		memcpy(out + hdr, payload, len);
	return (int)(hdr + len);
}

enum zt_socks5_udp_result zt_socks5_udp_unwrap(const uint8_t *in, size_t len,
					       struct zt_socks5_addr *from,
					       struct zt_view *payload)
{
	size_t alen;

	if (len < 4)
		return ZT_SOCKS5_UDP_TRUNCATED;
	if (in[0] || in[1])
		return ZT_SOCKS5_UDP_BAD_RSV;
	if (in[2])
		return ZT_SOCKS5_UDP_FRAGMENTED;
	switch (in[3]) {
	case ZT_SOCKS5_ATYP_IPV4:
		alen = 1 + 4 + 2;
		break;
	case ZT_SOCKS5_ATYP_IPV6:
		alen = 1 + 16 + 2;
		break;
	case ZT_SOCKS5_ATYP_DOMAIN:
		if (len < 5)
			return ZT_SOCKS5_UDP_TRUNCATED;
		if (in[4] == 0)
			return ZT_SOCKS5_UDP_BAD_ADDR;
		alen = 1 + 1 + (size_t)in[4] + 2;
		break;
	default:
		return ZT_SOCKS5_UDP_BAD_ATYP;
	}
	if (len - 3 < alen)
		return ZT_SOCKS5_UDP_TRUNCATED;
	addr_get(in + 3, alen, from);
	/* a relay on a dual-stack socket names an IPv4 server as
	 * ::ffff:a.b.c.d: that server is the IPv4 one (as BND.ADDR is) */
	unmap_v4(from);
	*payload = zt_view_make(in + 3 + alen, len - 3 - alen);
	return ZT_SOCKS5_UDP_OK;
}
