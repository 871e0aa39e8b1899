/* SPDX-License-Identifier: MIT */
/*
 * pcap_io.c - read and write packet captures through libpcap.
 *
 * Theory of operation: libpcap does the file formats (pcap in either byte
 * order, micro- or nanosecond magic, pcapng) and maps the LINKTYPE_* value
 * stored in the file to the host's DLT_* value (LINKTYPE_RAW 101 becomes
 * DLT_RAW, 12 on most systems and 14 on OpenBSD). We open every file with
 * PCAP_TSTAMP_PRECISION_NANO so libpcap scales microsecond files for us and
 * tv_usec always holds nanoseconds. What remains here is the link layer:
 * one small decoder per supported link type finds where the IP packet starts
 * in the captured frame, or says the frame holds none (ARP, LLDP, a link
 * header cut short by the snap length), in which case the frame is skipped
 * and counted and the next one is read. Frame numbers count every frame in
 * the file, skipped or not, so they match what tcpdump and Wireshark show.
 *
 * Writing is the reverse with a single link type: a dead pcap_t of DLT_RAW
 * with nanosecond precision and a 262144-byte snap length, and pcap_dump.
 * pcap_dump reports nothing, so the writer checks ferror() on the stream
 * after each record and once more after the final flush.
 */
#include "io/pcap_io.h"

#include <errno.h>
#include <stdarg.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define ZT_PCAP_SNAPLEN 262144

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100  /* 802.1Q customer tag */
#define ETHERTYPE_QINQ 0x88a8  /* 802.1ad service tag */
#define ETHERTYPE_QINQ_OLD 0x9100 /* pre-standard QinQ, still seen */

#define ETH_HDR_LEN 14
#define VLAN_TAG_LEN 4
#define SLL_HDR_LEN 16
#define SLL2_HDR_LEN 20
#define NULL_HDR_LEN 4

struct zt_pcap_reader {
	pcap_t *pcap;
	int linktype;       /* DLT_* as pcap_datalink() reports it */
	bool nano;          /* tv_usec holds nanoseconds */
	uint64_t skipped;
	uint32_t frame_no;
	char err[PCAP_ERRBUF_SIZE + 256];
};

struct zt_pcap_writer {
	pcap_t *pcap;
	pcap_dumper_t *dump;
	bool failed;        /* a write or flush went wrong; sticky */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint16_t rd16be(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static bool is_vlan_type(uint16_t type)
{
	return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ ||
	       type == ETHERTYPE_QINQ_OLD;
}

/*
 * ip_after_ethertype() - the IP packet offset for an EtherType at @type_off.
 * @frame, @caplen: the captured frame
 * @type_off:       offset of a 16-bit EtherType; the payload follows it
 *
 * Skips any number of 802.1Q/802.1ad tags (each tag is TCI + next type).
 * Return: offset of the IP header, or -1 when the type is not IPv4/IPv6 or
 * the frame ends inside the link header.
 */
static long ip_after_ethertype(const uint8_t *frame, size_t caplen,
			       size_t type_off)
{
	uint16_t type;

	for (;;) {
		if (caplen < type_off + 2)
			return -1;
		type = rd16be(frame + type_off);
		if (!is_vlan_type(type))
			break;
		type_off += VLAN_TAG_LEN;
	}
	if (type != ETHERTYPE_IPV4 && type != ETHERTYPE_IPV6)
		return -1;
	return (long)(type_off + 2);
}

/* BSD address family values meaning IPv6 (NetBSD/OpenBSD 24, FreeBSD 28,
 * Darwin 30) or Linux's 10; IPv4 is 2 everywhere. */
static bool af_is_ip(uint32_t af)
{
	return af == 2 || af == 10 || af == 24 || af == 28 || af == 30;
}

/*
 * ip_offset() - where the IP packet starts in a frame of link type @dlt.
 * Return: the offset (<= caplen), or -1 if the frame carries no IP packet or
 * its link header was cut short.
 */
static long ip_offset(int dlt, const uint8_t *frame, size_t caplen)
{
	uint32_t le, be;

	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	case DLT_EN10MB:
		/* dst(6) src(6) type(2); types below 0x0600 are 802.3 lengths
		 * (LLC/SNAP frames), which ip_after_ethertype rejects. */
		return ip_after_ethertype(frame, caplen, 12);
	case DLT_LINUX_SLL:
		/* pkttype(2) hatype(2) halen(2) addr(8) protocol(2). libpcap
		 * reinserts a stripped VLAN tag at the protocol field. */
		if (caplen < SLL_HDR_LEN)
			return -1;
		return ip_after_ethertype(frame, caplen, 14);
	case DLT_LINUX_SLL2:
		/* protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1)
		 * halen(1) addr(8). */
		if (caplen < SLL2_HDR_LEN)
			return -1;
		be = rd16be(frame);
		if (be != ETHERTYPE_IPV4 && be != ETHERTYPE_IPV6)
			return -1;
		return SLL2_HDR_LEN;
	case DLT_NULL:
	case DLT_LOOP:
		if (caplen < NULL_HDR_LEN)
			return -1;
		be = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 |
		     (uint32_t)frame[2] << 8 | frame[3];
		le = (uint32_t)frame[3] << 24 | (uint32_t)frame[2] << 16 |
		     (uint32_t)frame[1] << 8 | frame[0];
		/* NULL is in the capturing host's order, which the file does
		 * not record: accept either. LOOP is always network order. */
		if (af_is_ip(be) || (dlt == DLT_NULL && af_is_ip(le)))
			return NULL_HDR_LEN;
		return -1;
	default:
		return -1;
	}
}

/* A pcap record holds its seconds as an unsigned 32-bit field, which
 * libpcap reads as signed and sign-extends: times from 2038-01-19 to 2106
 * come back negative. Nothing captured predates 1970, so undo it. */
static uint64_t ts_seconds(time_t sec)
{
	return sec < 0 ? (uint64_t)(uint32_t)sec : (uint64_t)sec;
}

static bool linktype_supported(int dlt)
{
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_NULL:
	case DLT_LOOP:
		return true;
	default:
		return false;
	}
}

int zt_pcap_open_read(const char *path, struct zt_pcap_reader **out,
		      char *err, size_t errlen)
{
	char pcap_err[PCAP_ERRBUF_SIZE];
	struct zt_pcap_reader *r;
	const char *name;
	FILE *fp;
	int e;

	*out = NULL;
	/* Opened here rather than by pcap_open_offline so that a missing or
	 * unreadable file reports its real errno. */
	fp = fopen(path, "rb");
	if (!fp) {
		e = errno;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fclose(fp);
		set_err(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	pcap_err[0] = '\0';
	r->pcap = pcap_fopen_offline_with_tstamp_precision(fp,
			PCAP_TSTAMP_PRECISION_NANO, pcap_err);
	if (!r->pcap) {
		/* On failure libpcap leaves the stream to the caller. */
		fclose(fp);
		free(r);
		set_err(err, errlen, "%s: %s", path,
			pcap_err[0] ? pcap_err : "not a capture file");
		return -EIO;
	}
	r->linktype = pcap_datalink(r->pcap);
	if (!linktype_supported(r->linktype)) {
		name = pcap_datalink_val_to_name(r->linktype);
		set_err(err, errlen, "%s: unsupported link type %s (%d)", path,
			name ? name : "unknown", r->linktype);
		pcap_close(r->pcap);
		free(r);
		return -EPROTONOSUPPORT;
	}
	r->nano = pcap_get_tstamp_precision(r->pcap) ==
		  PCAP_TSTAMP_PRECISION_NANO;
	*out = r;
	return 0;
}

int zt_pcap_read_next(struct zt_pcap_reader *r, struct zt_pcap_record *rec)
{
	struct pcap_pkthdr *h;
	const u_char *frame;
	size_t caplen, wirelen;
	long off;
	int rc;

	for (;;) {
		rc = pcap_next_ex(r->pcap, &h, &frame);
		if (rc == PCAP_ERROR_BREAK)
			return 0;
		if (rc != 1) {
			/* 0 (timeout) cannot happen on a file; treat it as
			 * the error it would be. */
			snprintf(r->err, sizeof(r->err), "frame %u: %s",
				 r->frame_no + 1,
				 rc == PCAP_ERROR ? pcap_geterr(r->pcap) :
						    "unexpected read result");
			return -EIO;
		}
		r->frame_no++;
		caplen = h->caplen;
		wirelen = h->len < caplen ? caplen : h->len;
		off = ip_offset(r->linktype, frame, caplen);
		if (off < 0) {
			r->skipped++;
			continue;
		}
		rec->ts_ns = ts_seconds(h->ts.tv_sec) * 1000000000u +
			     (uint64_t)h->ts.tv_usec * (r->nano ? 1u : 1000u);
		rec->data = frame + off;
		rec->len = caplen - (size_t)off;
		rec->orig_len = wirelen - (size_t)off;
		rec->frame_no = r->frame_no;
		return 1;
	}
}

int zt_pcap_linktype(const struct zt_pcap_reader *r)
{
	return r->linktype;
}

uint64_t zt_pcap_skipped(const struct zt_pcap_reader *r)
{
	return r->skipped;
}

const char *zt_pcap_error(const struct zt_pcap_reader *r)
{
	return r->err;
}

void zt_pcap_close_read(struct zt_pcap_reader *r)
{
	if (!r)
		return;
	pcap_close(r->pcap);
	free(r);
}

int zt_pcap_open_write(const char *path, struct zt_pcap_writer **out,
		       char *err, size_t errlen)
{
	struct zt_pcap_writer *w;
	int e;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		set_err(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	w->pcap = pcap_open_dead_with_tstamp_precision(DLT_RAW, ZT_PCAP_SNAPLEN,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!w->pcap) {
		free(w);
		set_err(err, errlen, "%s: cannot create a pcap handle", path);
		return -ENOMEM;
	}
	errno = 0;
	w->dump = pcap_dump_open(w->pcap, path);
	if (!w->dump) {
		/* The fopen or header fwrite inside set errno; libpcap only
		 * formats it into the message. */
		e = errno ? errno : EIO;
		set_err(err, errlen, "%s", pcap_geterr(w->pcap));
		pcap_close(w->pcap);
		free(w);
		return -e;
	}
	*out = w;
	return 0;
}

int zt_pcap_write(struct zt_pcap_writer *w, uint64_t ts_ns,
		  const uint8_t *data, size_t len)
{
	struct pcap_pkthdr h;

	if (w->failed)
		return -EIO;
	if (len > ZT_PCAP_SNAPLEN)
		return -EINVAL; /* readers reject records above the snap length */
	if (ts_ns / 1000000000u > UINT32_MAX)
		return -EOVERFLOW; /* past 2106: the seconds field is 32 bits */
	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = (time_t)(ts_ns / 1000000000u);
	h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000u); /* ns: NANO handle */
	h.caplen = (bpf_u_int32)len;
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)w->dump, &h, data);
	if (ferror(pcap_dump_file(w->dump))) {
		w->failed = true;
		return -EIO;
	}
	return 0;
}

int zt_pcap_close_write(struct zt_pcap_writer *w)
{
	FILE *fp;
	bool bad;

	if (!w)
		return 0;
	fp = pcap_dump_file(w->dump);
	bad = w->failed || pcap_dump_flush(w->dump) != 0 || ferror(fp);
	/* pcap_dump_close returns nothing; fclose errors after a successful
	 * fflush are limited to the final close(2), which for local files
	 * does not fail. */
	pcap_dump_close(w->dump);
	pcap_close(w->pcap);
	free(w);
	return bad ? -EIO : 0;
}
