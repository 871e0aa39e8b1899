// SPDX-License-Identifier: MIT
/*
 * stream_read.h - upstream bytes handed to the router the way ztun-ref
 * reads a stream socket (sim/real/host.c, stream_readable()), so that the
 * simulator's hosts drive the same core calls as the real download path.
 *
 * Theory of operation: ztun-ref asks zt_router_stream_room() how much to
 * read; at 0 it stops reading until stream_resume(). For a relaying TCP
 * flow, zt_router_stream_recv_runs() gives the free runs of the flow's
 * send ring, the socket is read straight into them and
 * zt_router_stream_recv_commit() takes what came; a short read is not a
 * pause (the socket is still readable: the next read asks the room
 * again). Where the core gives no runs (a proxy's handshake, an
 * association's control bytes, a DNS stream) the bytes go to
 * zt_router_stream_data(), and what it leaves is held until
 * stream_resume(). The simulator's hosts "read" from buffers of their
 * own: zt_stream_read() is one such read, the copy into the runs standing
 * for recvmsg()'s.
 *
 * Ownership: @data is borrowed for the call. The router may close the
 * stream from inside the call; the host checks its stream is still open
 * before offering more.
 */
#ifndef ZTUN_SIM_STREAM_READ_H
#define ZTUN_SIM_STREAM_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztun/router.h"

/* Offer up to @len bytes of @data; returns how many the router took, and
 * sets *@pause when the host must offer nothing more before
 * stream_resume() (otherwise a short take means "read again"). */
static inline size_t zt_stream_read(struct zt_router *r, void *cookie,
				    const uint8_t *data, size_t len,
				    uint64_t now, bool *pause)
{
	size_t room = zt_router_stream_room(r, cookie), nr[2], n;
	uint8_t *run[2];

	*pause = false;
	if (room == 0) {
		*pause = true;
		return 0;
	}
	if (len > room)
		len = room;
	n = zt_router_stream_recv_runs(r, cookie, len, run, nr);
	if (n == 0) {
		n = zt_router_stream_data(r, cookie, data, len, now);
		if (n > len)
			n = len;
		*pause = n < len;
		return n;
	}
	memcpy(run[0], data, nr[0]);
	if (nr[1])
		memcpy(run[1], data + nr[0], nr[1]);
	zt_router_stream_recv_commit(r, cookie, n, now);
	return n;
}

#endif
