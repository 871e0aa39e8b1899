/* SPDX-License-Identifier: MIT */
/*
 * tun_pcap.h - a TUN driver (tun_driver.h) over packet captures.
 *
 * Theory of operation:
 *
 * Reading yields the IP packets of an input capture in file order, each
 * with its capture time (nanoseconds since the epoch) through the read
 * op's @when; at the end read returns -ENODATA. Frames with no IP packet
 * are skipped by the reader (pcap_io.h); frames snapped shorter than the
 * packet on the wire are skipped too and counted, since a TUN never yields
 * part of a packet. Writing appends each packet to an output capture
 * (LINKTYPE_RAW, nanosecond timestamps) stamped with the host's clock when
 * one is given, else with the capture time of the last packet read.
 *
 * Either file is optional: without an input, read returns -ENODATA at
 * once; without an output, writes are counted and discarded.
 *
 * No wall clock is read: time is the capture's or the host's callback's.
 *
 * Ownership: zt_tun_pcap_open() allocates the driver; the close op closes
 * both files (the output is flushed); zt_tun_pcap_free() closes if needed
 * and frees. Paths are borrowed for the call.
 *
 * This is host code (file I/O); the core never calls it.
 */
#ifndef ZTUN_SIM_TUN_PCAP_H
#define ZTUN_SIM_TUN_PCAP_H

#include <stddef.h>
#include <stdint.h>

#include "io/tun_driver.h"

struct zt_tun_pcap_config {
	const char *input;           /* capture to read, or NULL */
	const char *output;          /* capture to write, or NULL */
	const char *name;            /* interface name ("pcap0") */
	unsigned ifindex;            /* interface index (0) */
	/* Timestamp of a written packet; NULL: the last packet read's. */
	uint64_t (*clock)(void *arg);
	void *clock_arg;             /* borrowed */
};

struct zt_tun_pcap_stats {
	uint64_t read, read_bytes;
	uint64_t snapped;            /* frames skipped: shorter than on the wire */
	uint64_t too_big;            /* packets lost to a short read buffer */
	uint64_t written, written_bytes;
	uint64_t write_errors;
};

struct zt_tun_pcap;

/*
 * zt_tun_pcap_open() - open @cfg's files (@cfg and its strings borrowed).
 * @out: the driver on success
 * @drv: filled with the ops and ctx on success
 * @err: a message naming the file on failure
 * Return: 0, -ENOMEM, or the error of zt_pcap_open_read()/_write().
 */
int zt_tun_pcap_open(const struct zt_tun_pcap_config *cfg,
		     struct zt_tun_pcap **out, struct zt_tun_driver *drv,
		     char *err, size_t errlen);

/* Close (if the close op did not) and free. Return: 0, or -EIO when a
 * write or the output's flush failed at any time. */
int zt_tun_pcap_free(struct zt_tun_pcap *p);

const struct zt_tun_pcap_stats *zt_tun_pcap_stats(const struct zt_tun_pcap *p);

#endif /* ZTUN_SIM_TUN_PCAP_H */
