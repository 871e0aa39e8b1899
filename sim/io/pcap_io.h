/* SPDX-License-Identifier: MIT */
/*
 * pcap_io.h - read and write packet captures through libpcap.
 *
 * Reading yields IP packets (IPv4 or IPv6) with nanosecond timestamps from
 * captures of link type RAW, IPV4, IPV6, ETHERNET (with 802.1Q/QinQ tags),
 * LINUX_SLL, LINUX_SLL2 and NULL/LOOP, pcap or pcapng, micro- or nanosecond.
 * Frames that carry no IP packet (ARP, LLDP, ...) are skipped and counted.
 * Writing produces LINKTYPE_RAW pcap files with nanosecond timestamps.
 *
 * This is host code (it does file I/O); the core never calls it.
 */
#ifndef ZTUN_PCAP_IO_H
#define ZTUN_PCAP_IO_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

/* Older libpcap headers may lack these; the values are fixed by tcpdump.org. */
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

struct zt_pcap_reader;
struct zt_pcap_writer;

struct zt_pcap_record {
	uint64_t ts_ns;        /* capture time, nanoseconds since the epoch */
	const uint8_t *data;   /* the IP packet; borrowed, valid until the next read */
	size_t len;            /* bytes captured of the IP packet */
	size_t orig_len;       /* its length on the wire (>= len when snapped) */
	uint32_t frame_no;     /* 1-based frame number in the file */
};

/*
 * zt_pcap_open_read() - open @path for reading.
 * @err: filled with a message naming the problem (for an unsupported link
 *       type, its name and number) when the return is negative
 * Return: 0, -ENOENT/-EIO (file), -EPROTONOSUPPORT (link type).
 * The reader is owned by the caller; free it with zt_pcap_close_read().
 */
int zt_pcap_open_read(const char *path, struct zt_pcap_reader **out,
		      char *err, size_t errlen);

/* Next IP packet: 1 with @rec filled, 0 at end of file, -EIO on a read error
 * (message in zt_pcap_error()). */
int zt_pcap_read_next(struct zt_pcap_reader *r, struct zt_pcap_record *rec);

int zt_pcap_linktype(const struct zt_pcap_reader *r);
/* Frames skipped because they held no IP packet (or a truncated link header). */
uint64_t zt_pcap_skipped(const struct zt_pcap_reader *r);
const char *zt_pcap_error(const struct zt_pcap_reader *r);
void zt_pcap_close_read(struct zt_pcap_reader *r);

/* Open @path for writing a LINKTYPE_RAW nanosecond capture (snaplen 262144).
 * Return: 0 or -errno with @err filled. */
int zt_pcap_open_write(const char *path, struct zt_pcap_writer **out,
		       char *err, size_t errlen);
/* Append one IP packet (copied). Return: 0, -EINVAL (@len above the snap
 * length), -EOVERFLOW (@ts_ns past 2106, beyond pcap's 32-bit seconds;
 * nothing written) or -EIO. */
int zt_pcap_write(struct zt_pcap_writer *w, uint64_t ts_ns,
		  const uint8_t *data, size_t len);
/* Flush and close; returns 0 or -EIO if anything failed to reach the file. */
int zt_pcap_close_write(struct zt_pcap_writer *w);

#endif /* ZTUN_PCAP_IO_H */
