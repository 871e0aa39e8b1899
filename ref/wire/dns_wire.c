/* SPDX-License-Identifier: MIT */
/*
 * dns_wire.c - DNS query parse and answer emit (RFC 1035 4.1).
 *
 * Theory of operation: a message shorter than the 12-byte header, or one
 * with QR set (a response: answering it could start a loop between two
 * resolvers), gets no answer at all. Every other message gets one: the
 * header alone carries NOTIMP for an opcode other than QUERY and FORMERR
 * for a question count other than 1 or a question that cannot be read.
 * The name is read label by label within the message's bytes: each label
 * 1..63 bytes (the two top bits of its length byte zero: no compression
 * pointer, which a question has nowhere to point to, no extended label
 * type), the whole at most 255 bytes on the wire, so its text form fits
 * ZT_DNS_NAME_MAX. A name whose bytes are not those of a host name
 * (letters, digits, '-', '_') is REFUSED: its text is later handed to a
 * proxy as a host to connect to, and must not carry a separator, a space
 * or a NUL into a SOCKS5 or HTTP request. Records after the question (an
 * EDNS OPT) are not read; the answer carries none (RFC 6891 6.1.1: a
 * responder without EDNS answers without OPT).
 *
 * An answer is the header, the question's bytes as sent, and one record
 * per address whose owner name is a pointer to offset 12, where the
 * question's name starts.
 *
 * A real resolver's answer (to a query the fake-IP resolver forwarded) is
 * read only for its question's name and the A/AAAA records of its answer
 * section: record names are stepped over, whatever they are (a CNAME
 * chain's addresses all belong to the name asked for), their pointers
 * followed only to check that they make a name (RFC 1035 4.1.4: to an
 * earlier name, never into the header; 255 octets at most, 3.1); each
 * must point lower than the labels that led to it, so no loop can be
 * built. Anything short or malformed teaches nothing.
 *
 * DNS over TCP for a UDP client (the router's dns_tcp tunnels): the query's
 * EDNS OPT, the last section's record of type 41, says how large an answer
 * the client takes over UDP (its CLASS field; no more than one datagram
 * carries over IPv4, 65507 bytes, whatever it says: the stack could not
 * send a larger one, and the answer would be lost); an answer from TCP larger
 * than that goes back as its header and question with TC set, no records
 * but the answer's OPT (RFC 6891 7: header, question and OPT are the
 * minimal response, a truncated one included; its options dropped when
 * they would not fit the client's size), and the client asks again over
 * TCP itself. An answer whose one question
 * cannot be copied (none, several, unreadable) is never lost for that:
 * the query's question stands in (a stub such as glibc's drops a reply
 * whose question section is not its own, and would wait out its
 * timeout), else the header goes alone; TC rather than SERVFAIL, since
 * the server did answer: SERVFAIL sends glibc to its next server and
 * fails the lookup when none answers better, while TC makes glibc and
 * systemd-resolved ask the same server again over TCP (RFC 7766 5),
 * where the whole answer fits.
 */
#include "ztun/dns_wire.h"

#include <errno.h>
#include <string.h>

#define DNS_QR 0x8000u
#define DNS_OPCODE_MASK 0x7800u
#define DNS_AA 0x0400u
#define DNS_RD 0x0100u
#define DNS_RA 0x0080u
#define DNS_TC 0x0200u
#define DNS_TYPE_OPT 41u
#define DNS_OPT_FIXED 11u /* an OPT record without options */
#define DNS_WIRE_NAME_MAX 255u
#define DNS_LABEL_MAX 63u

static bool host_name_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool zt_dns_name_valid(const char *name)
{
	const char *end = memchr(name, '\0', ZT_DNS_NAME_MAX + 1);
	size_t label = 0, n = end ? (size_t)(end - name) : 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (name[i] == '.' || name[i] == '\0') {
			if (label == 0 || label > DNS_LABEL_MAX)
				return false;
			label = 0;
		} else if (host_name_byte((uint8_t)name[i])) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* Read the question's name from @msg at ZT_DNS_HDR into @q->name and
 * set *@end past it; *@host_name tells whether every byte was one a host
 * name may have. Return: 0 or ZT_DNS_FORMERR. */
static int read_qname(struct zt_view msg, struct zt_dns_query *q,
		      size_t *end, bool *host_name)
{
	size_t off = ZT_DNS_HDR, out = 0;

	*host_name = true;
	for (;;) {
		struct zt_view label;
		uint8_t n;

		if (off >= msg.len)
			return ZT_DNS_FORMERR;
		n = msg.data[off];
		if (n == 0)
			break;
		if (n > DNS_LABEL_MAX) /* pointer or extended label type */
			return ZT_DNS_FORMERR;
		if (off - ZT_DNS_HDR + 1 + n + 1 > DNS_WIRE_NAME_MAX ||
		    !zt_view_sub(msg, off + 1, n, &label))
			return ZT_DNS_FORMERR;
		if (out)
			q->name[out++] = '.';
		for (size_t i = 0; i < n; i++) {
			uint8_t c = label.data[i];

			*host_name = *host_name && host_name_byte(c);
			q->name[out++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		off += 1u + n;
	}
	q->name[out] = 0;
	*end = off + 1;
	return 0;
}

int zt_dns_parse_query(struct zt_view msg, struct zt_dns_query *q)
{
	struct zt_view tail;
	size_t end;
	bool host_name;

	memset(q, 0, sizeof(*q));
	if (msg.len < ZT_DNS_HDR)
		return -EINVAL;
	q->id = zt_rd16(msg.data);
	q->flags = zt_rd16(msg.data + 2);
	if (q->flags & DNS_QR)
		return -EINVAL;
	if (q->flags & DNS_OPCODE_MASK)
		return ZT_DNS_NOTIMP;
	if (zt_rd16(msg.data + 4) != 1 ||
	    read_qname(msg, q, &end, &host_name) ||
	    !zt_view_sub(msg, end, 4, &tail)) {
		q->name[0] = 0;
		return ZT_DNS_FORMERR;
	}
	q->qtype = zt_rd16(tail.data);
	q->qclass = zt_rd16(tail.data + 2);
	q->question = zt_view_make(msg.data + ZT_DNS_HDR, end + 4 - ZT_DNS_HDR);
	if (!host_name) {
		q->name[0] = 0;
		return ZT_DNS_REFUSED;
	}
	return ZT_DNS_NOERROR;
}

int zt_dns_build_answer(const struct zt_dns_query *q, unsigned rcode,
			const struct zt_addr *addrs, unsigned n, uint32_t ttl,
			uint8_t *buf, size_t cap)
{
	size_t len = ZT_DNS_HDR, qlen = q->question.len;
	uint16_t flags = (uint16_t)(DNS_QR | (q->flags & (DNS_OPCODE_MASK | DNS_RD)) |
				    DNS_RA | (rcode & 0xfu));

	if (!qlen)
		n = 0;
	else if (rcode == ZT_DNS_NOERROR || rcode == ZT_DNS_NXDOMAIN)
		flags |= DNS_AA;
	for (unsigned i = 0; i < n; i++)
		len += 12 + zt_addr_len(&addrs[i]);
	len += qlen;
	if (len > cap)
		return -ENOSPC;
	zt_wr16(buf, q->id);
	zt_wr16(buf + 2, flags);
	zt_wr16(buf + 4, qlen ? 1 : 0);
	zt_wr16(buf + 6, (uint16_t)n);
	zt_wr16(buf + 8, 0);
	zt_wr16(buf + 10, 0);
	len = ZT_DNS_HDR;
	if (qlen)
		memcpy(buf + len, q->question.data, qlen);
	len += qlen;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *rr = buf + len;
		size_t alen = zt_addr_len(&addrs[i]);

		zt_wr16(rr, 0xc000 | ZT_DNS_HDR); /* the question's name */
		zt_wr16(rr + 2, alen == 4 ? ZT_DNS_TYPE_A : ZT_DNS_TYPE_AAAA);
		zt_wr16(rr + 4, ZT_DNS_CLASS_IN);
		zt_wr32(rr + 6, ttl);
		zt_wr16(rr + 10, (uint16_t)alen);
		memcpy(rr + 12, addrs[i].bytes, alen);
		len += 12 + alen;
	}
	return (int)len;
}

int zt_dns_build_ptr(const struct zt_dns_query *q, const char *target,
		     uint32_t ttl, uint8_t *buf, size_t cap)
{
	size_t tlen = strlen(target), off;
	int n = zt_dns_build_answer(q, ZT_DNS_NOERROR, NULL, 0, ttl, buf, cap);
	uint8_t *rr;

	if (n < 0)
		return n;
	if (!q->question.len || tlen == 0 || tlen > ZT_DNS_NAME_MAX)
		return -EINVAL;
	off = (size_t)n;
	if (off + 12 + tlen + 2 > cap)
		return -ENOSPC;
	rr = buf + off;
	zt_wr16(rr, 0xc000 | ZT_DNS_HDR);
	zt_wr16(rr + 2, ZT_DNS_TYPE_PTR);
	zt_wr16(rr + 4, ZT_DNS_CLASS_IN);
	zt_wr32(rr + 6, ttl);
	zt_wr16(rr + 10, (uint16_t)(tlen + 2));
	/* "a.b" -> 1 'a' 1 'b' 0: each dot becomes the next label's length */
	for (size_t i = 0, start = 0; i <= tlen; i++) {
		if (i < tlen && target[i] != '.')
			continue;
		if (i == start || i - start > DNS_LABEL_MAX)
			return -EINVAL;
		rr[12 + start] = (uint8_t)(i - start);
		memcpy(rr + 12 + start + 1, target + start, i - start);
		start = i + 1;
	}
	rr[12 + tlen + 1] = 0;
	zt_wr16(buf + 6, 1);
	return (int)(off + 12 + tlen + 2);
}

/* Step over a record's name at *@off: labels, then a zero or a pointer
 * to the rest (RFC 1035 4.1.4), followed to count the whole name's
 * octets (at most 255, 3.1). A pointer must lead back before the labels
 * that led to it, and past the header: each jump goes lower, so a chain
 * ends. Return: 0 or -EINVAL. */
static int skip_name(struct zt_view msg, size_t *off)
{
	size_t o = *off, start = o, end = 0, wire = 0;

	for (;;) {
		uint8_t n;

		if (o >= msg.len)
			return -EINVAL;
		n = msg.data[o];
		if ((n & 0xc0) == 0xc0) {
			size_t to;

			if (o + 1 >= msg.len)
				return -EINVAL;
			to = (size_t)(((n & 0x3f) << 8) | msg.data[o + 1]);
			if (to < ZT_DNS_HDR || to >= start)
				return -EINVAL;
			if (!end)
				end = o + 2;
			o = start = to;
			continue;
		}
		if (n > DNS_LABEL_MAX)
			return -EINVAL;
		wire += 1u + n;
		if (wire > DNS_WIRE_NAME_MAX)
			return -EINVAL;
		if (n == 0) {
			*off = end ? end : o + 1;
			return 0;
		}
		o += 1u + n;
	}
}

int zt_dns_parse_answer(struct zt_view msg, char name[ZT_DNS_NAME_MAX + 1],
			struct zt_addr *addrs, unsigned max)
{
	struct zt_dns_query q;
	size_t off, end;
	unsigned ancount, n = 0;
	uint16_t flags;
	bool host_name;

	name[0] = 0;
	if (msg.len < ZT_DNS_HDR)
		return -EINVAL;
	flags = zt_rd16(msg.data + 2);
	if (!(flags & DNS_QR) || (flags & DNS_OPCODE_MASK) || (flags & 0xf) ||
	    zt_rd16(msg.data + 4) != 1)
		return -EINVAL;
	ancount = zt_rd16(msg.data + 6);
	memset(&q, 0, sizeof(q));
	if (read_qname(msg, &q, &end, &host_name) || !host_name || !q.name[0])
		return -EINVAL;
	off = end + 4; /* QTYPE QCLASS */
	for (unsigned i = 0; i < ancount; i++) {
		struct zt_view rr;
		uint16_t type, rdlen;

		if (skip_name(msg, &off) || !zt_view_sub(msg, off, 10, &rr))
			return -EINVAL;
		type = zt_rd16(rr.data);
		rdlen = zt_rd16(rr.data + 8);
		off += 10;
		if (!zt_view_sub(msg, off, rdlen, &rr))
			return -EINVAL;
		if (zt_rd16(msg.data + off - 8) == ZT_DNS_CLASS_IN && n < max &&
		    ((type == ZT_DNS_TYPE_A && rdlen == 4) ||
		     (type == ZT_DNS_TYPE_AAAA && rdlen == 16))) {
			addrs[n] = rdlen == 4 ? zt_addr_v4(rr.data) : zt_addr_v6(rr.data);
			n++;
		}
		off += rdlen;
	}
	memcpy(name, q.name, strlen(q.name) + 1);
	return (int)n;
}

/* Step over @n records from *@off; with @opt_size, the CLASS of the last
 * OPT among them goes there. Return: 0 or -EINVAL. */
static int skip_records(struct zt_view msg, size_t *off, unsigned n,
			unsigned *opt_size)
{
	for (unsigned i = 0; i < n; i++) {
		struct zt_view rr;

		if (skip_name(msg, off) || !zt_view_sub(msg, *off, 10, &rr) ||
		    !zt_view_sub(msg, *off + 10, zt_rd16(rr.data + 8), &rr))
			return -EINVAL;
		if (opt_size && zt_rd16(msg.data + *off) == DNS_TYPE_OPT)
			*opt_size = zt_rd16(msg.data + *off + 2);
		*off += 10u + rr.len;
	}
	return 0;
}

/* Step over the question section (its names are never compressed: there
 * is nothing before them to point to). Return: 0 or -EINVAL. */
static int skip_questions(struct zt_view msg, size_t *off)
{
	unsigned qd = zt_rd16(msg.data + 4);

	*off = ZT_DNS_HDR;
	for (unsigned i = 0; i < qd; i++)
		if (skip_name(msg, off) || *off + 4 > msg.len)
			return -EINVAL;
		else
			*off += 4;
	return 0;
}

unsigned zt_dns_udp_limit(struct zt_view msg)
{
	unsigned opt = 0;
	size_t off;

	if (msg.len < ZT_DNS_HDR || skip_questions(msg, &off) ||
	    skip_records(msg, &off, (unsigned)zt_rd16(msg.data + 6) +
				    zt_rd16(msg.data + 8), NULL) ||
	    skip_records(msg, &off, zt_rd16(msg.data + 10), &opt))
		return ZT_DNS_UDP_MAX;
	if (opt > ZT_DNS_UDP_PAYLOAD_MAX) /* more than a datagram carries */
		return ZT_DNS_UDP_PAYLOAD_MAX;
	return opt > ZT_DNS_UDP_MAX ? opt : ZT_DNS_UDP_MAX;
}

int zt_dns_question(struct zt_view msg, struct zt_view *q)
{
	size_t off = ZT_DNS_HDR;

	if (msg.len < ZT_DNS_HDR || zt_rd16(msg.data + 4) != 1)
		return -EINVAL;
	for (;;) {
		uint8_t n;

		if (off >= msg.len || off - ZT_DNS_HDR >= DNS_WIRE_NAME_MAX)
			return -EINVAL;
		n = msg.data[off];
		if (n > DNS_LABEL_MAX)
			return -EINVAL;
		off += 1u + n;
		if (n == 0)
			break;
	}
	if (off - ZT_DNS_HDR > DNS_WIRE_NAME_MAX ||
	    !zt_view_sub(msg, ZT_DNS_HDR, off + 4 - ZT_DNS_HDR, q))
		return -EINVAL;
	return 0;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

bool zt_dns_question_eq(struct zt_view a, struct zt_view b)
{
	size_t off = 0;

	if (a.len != b.len)
		return false;
	/* the same label lengths at the same places; only label bytes fold */
	while (off < a.len && a.data[off]) {
		size_t n = a.data[off];

		if (b.data[off] != n || off + 1 + n > a.len)
			return false;
		for (size_t i = off + 1; i <= off + n; i++)
			if (lower(a.data[i]) != lower(b.data[i]))
				return false;
		off += 1 + n;
	}
	return memcmp(a.data + off, b.data + off, a.len - off) == 0;
}

/* The EDNS OPT record of response @msg (owner the root, in the
 * additional section; RFC 6891 6.1.1), set in @opt. Return: 0, or
 * -ENOENT: none, or records that cannot be stepped over before it. */
static int find_opt(struct zt_view msg, struct zt_view *opt)
{
	size_t off;
	unsigned ar = zt_rd16(msg.data + 10);

	if (skip_questions(msg, &off) ||
	    skip_records(msg, &off, (unsigned)zt_rd16(msg.data + 6) +
				    zt_rd16(msg.data + 8), NULL))
		return -ENOENT;
	for (unsigned i = 0; i < ar; i++) {
		size_t start = off;

		if (skip_records(msg, &off, 1, NULL))
			return -ENOENT;
		if (msg.data[start] == 0 &&
		    zt_rd16(msg.data + start + 1) == DNS_TYPE_OPT)
			return zt_view_sub(msg, start, off - start, opt) ? 0 : -ENOENT;
	}
	return -ENOENT;
}

int zt_dns_truncate(struct zt_view msg, struct zt_view query, uint8_t *buf,
		    size_t cap)
{
	struct zt_view question = zt_view_make(msg.data, 0), opt;
	size_t off;

	if (msg.len < ZT_DNS_HDR || !(zt_rd16(msg.data + 2) & DNS_QR))
		return -EINVAL;
	if (zt_dns_question(msg, &question) && zt_dns_question(query, &question))
		question = zt_view_make(msg.data, 0); /* the header alone: TC
						       * still says "ask over
						       * TCP" */
	if (ZT_DNS_HDR + question.len > cap)
		return -ENOSPC;
	memcpy(buf, msg.data, ZT_DNS_HDR);
	zt_wr16(buf + 2, (uint16_t)(zt_rd16(msg.data + 2) | DNS_TC));
	zt_wr16(buf + 4, question.len ? 1 : 0);
	memset(buf + 6, 0, 6); /* no answer, authority or additional records */
	memcpy(buf + ZT_DNS_HDR, question.data, question.len);
	off = ZT_DNS_HDR + question.len;
	if (find_opt(msg, &opt))
		return (int)off;
	/* but the OPT (RFC 6891 7): whole, else without its options (its
	 * size, extended RCODE and flags are the part that matters), else
	 * none */
	if (opt.len > cap - off)
		opt.len = DNS_OPT_FIXED;
	if (opt.len > cap - off)
		return (int)off;
	memcpy(buf + off, opt.data, opt.len);
	if (opt.len == DNS_OPT_FIXED)
		zt_wr16(buf + off + DNS_OPT_FIXED - 2, 0); /* RDLENGTH */
	zt_wr16(buf + 10, 1);
	return (int)(off + opt.len);
}
