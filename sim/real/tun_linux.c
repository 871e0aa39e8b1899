/* SPDX-License-Identifier: MIT */
/*
 * tun_linux.c - the Linux TUN driver: /dev/net/tun, IFF_TUN | IFF_NO_PI,
 * optionally IFF_VNET_HDR with offloads.
 *
 * Theory of operation: TUNSETIFF binds the open clone device to an
 * interface (created if missing, non-persistent: it goes away with the
 * last descriptor; with ZR_TUN_PERSIST it stays should the process die,
 * holding the routes into it, and only a clean close lets it go). Every read returns one whole packet and every write
 * injects one, so the ops are thin wrappers turning -1/errno into negative
 * errno returns. An adopted descriptor (--tun-fd) is only made
 * non-blocking; TUNGETIFF tells its name when it is a TUN at all.
 *
 * Offload (ZR_TUN_OFFLOAD): with IFF_VNET_HDR every packet is preceded by
 * a struct virtio_net_hdr, and TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4 |
 * TUN_F_TSO6) lets the kernel hand us what its TCP built before
 * segmentation: up to 64 KiB per read, the TCP checksum left partial
 * (NEEDS_CSUM), so such reads carry ZT_INPUT_CSUM_VALID. Where the kernel
 * has them (6.2 on), TUN_F_USO4/6 do the same for a UDP_SEGMENT send: its
 * datagrams come in one read, flagged ZT_TUN_UDP_GSO with their size, and
 * the host cuts them (tun_driver.h). The other way,
 * write_gso() sends one 64 KiB TCP segment with gso_size = the core's
 * segment size and the kernel cuts it: one syscall instead of ~44 (with
 * VIRTIO_NET_HDR_GSO_ECN when it carries CWR, which the kernel then puts
 * on the first piece alone; the core sends no CWR today). The
 * core's TSO segments already hold the pseudo-header sum only in the TCP
 * checksum (CHECKSUM_PARTIAL), so the packet follows the header as it
 * is (writev, no copy). A run of UDP datagrams goes the same way
 * (VIRTIO_NET_HDR_GSO_UDP_L4, Linux 6.2 on): one write for up to 64
 * datagrams, which the kernel cuts as its UDP GSO does; a kernel that
 * refuses it (EINVAL) gets them cut by the host from then on. Plain writes
 * carry a zeroed header (checksums complete, nothing to cut).
 *
 * Reads are checked before the core sees them. A packet longer than the
 * buffer comes cut, with nothing to say so (read() returns the buffer's
 * length): one spare byte past the buffer catches it, and it is dropped
 * (-EMSGSIZE), never handed over cut. A virtio-net header the kernel
 * never makes (virtio_net_hdr_from_skb(): GSO of TCPv4, TCPv6 with ECN
 * for a segment with CWR, or UDP_L4 only where TUN_F_USO was taken; a
 * GSO type that does not match the packet or has no segment size; hdr_len
 * or the partial checksum's field past the packet, or the checksum's start
 * inside the IP header) drops the packet (-EBADMSG): trusting it would
 * vouch for a checksum or cut datagrams by a size nobody meant.
 */
#include "real/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "real/netlink.h"
#include "ztun/stack.h"
#include "ztun/tcp_wire.h"
#include "ztun/view.h"

/* VIRTIO_NET_HDR_GSO_UDP_L4 and TUN_F_USO4/6, which headers before Linux
 * 6.2 lack. */
#define VNET_GSO_UDP_L4 5
#define VNET_TUN_F_USO4 0x20
#define VNET_TUN_F_USO6 0x40

/* The largest virtio-net header a TUN may be set to use (with room). */
#define VNET_MAX 32

/*
 * vnet_ok() - whether @vh is a header the kernel makes for the @len-byte
 * packet @pkt (borrowed) on a TUN that took USO (@uso) or not.
 */
static bool vnet_ok(const struct virtio_net_hdr *vh, const uint8_t *pkt,
		    size_t len, bool uso)
{
	unsigned gso = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	bool v4 = len >= 20 && pkt[0] >> 4 == 4, v6 = len >= 40 && pkt[0] >> 4 == 6;
	/* IPv4's protocol; IPv6's next header, unless an extension header
	 * stands first (then the kernel's GSO type is taken as it is) */
	uint8_t proto = v4 ? pkt[9] : v6 ? pkt[6] : 0;
	size_t iphl = v4 ? (size_t)(pkt[0] & 0x0f) * 4 : 40;
	bool l4_known = v4 || proto == ZT_IPPROTO_TCP || proto == ZT_IPPROTO_UDP;

	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		if (!vh->gso_size || vh->hdr_len > len)
			return false;
		if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && !v4)
			return false;
		if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && !v6)
			return false;
		if ((gso == VIRTIO_NET_HDR_GSO_TCPV4 ||
		     gso == VIRTIO_NET_HDR_GSO_TCPV6) &&
		    l4_known && proto != ZT_IPPROTO_TCP)
			return false;
		if (gso == VNET_GSO_UDP_L4 &&
		    (!uso || !(v4 || v6) || (l4_known && proto != ZT_IPPROTO_UDP) ||
		     (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN)))
			return false;  /* ECN marks a TCP segment's CWR */
		if (gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
		    gso != VIRTIO_NET_HDR_GSO_TCPV6 && gso != VNET_GSO_UDP_L4)
			return false;  /* UFO, SCTP, tunnels: never asked for */
	} else if (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN) {
		return false;
	}
	if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (!(v4 || v6) || vh->csum_start < iphl ||
	     (size_t)vh->csum_start + vh->csum_offset + 2 > len))
		return false;
	return true;
}

static ssize_t tun_read(void *ctx, void *buf, size_t len, uint64_t *when,
			unsigned *flags)
{
	struct zr_tun *t = ctx;
	struct virtio_net_hdr vh;
	uint8_t hdr[VNET_MAX], spare;
	/* a packet longer than @len fills the spare byte too */
	struct iovec iov[3] = {
		{ .iov_base = hdr, .iov_len = t->vnet_len },
		{ .iov_base = buf, .iov_len = len },
		{ .iov_base = &spare, .iov_len = 1 },
	};
	size_t got;
	ssize_t n;

	(void)when; /* the host reads its clock once per wake-up */
	if (flags)
		*flags = 0;
	if (t->fd < 0)
		return -EBADF;
	do {
		n = t->vnet_len ? readv(t->fd, iov, 3) : readv(t->fd, iov + 1, 2);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n < t->vnet_len)
		return -EIO;
	got = (size_t)n - t->vnet_len;
	if (got > len)
		return -EMSGSIZE;  /* its tail is lost: never handed over cut */
	if (!t->vnet_len)
		return (ssize_t)got;
	memcpy(&vh, hdr, sizeof(vh));
	if (!vnet_ok(&vh, buf, got, t->uso))
		return -EBADMSG;
	/* A partial checksum (or one the kernel checked) is not ours to
	 * verify; a TSO segment always comes with NEEDS_CSUM. */
	if (flags && ((vh.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM |
				   VIRTIO_NET_HDR_F_DATA_VALID)) ||
		      vh.gso_type != VIRTIO_NET_HDR_GSO_NONE))
		*flags = ZT_INPUT_CSUM_VALID;
	/* the datagrams of a UDP_SEGMENT send (TUN_F_USO4/6), for the host
	 * to cut */
	if (flags && vh.gso_type == VNET_GSO_UDP_L4)
		*flags |= ZT_TUN_UDP_GSO | (unsigned)vh.gso_size << 16;
	return (ssize_t)got;
}

static ssize_t tun_writev(struct zr_tun *t, const struct iovec *iov, int cnt,
			  size_t want)
{
	ssize_t n;

	if (t->fd < 0)
		return -EBADF;
	do {
		n = writev(t->fd, iov, cnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n < want ? -EIO : (ssize_t)(want - t->vnet_len);
}

static ssize_t tun_write(void *ctx, const void *pkt, size_t len)
{
	struct zr_tun *t = ctx;
	uint8_t zero[VNET_MAX] = { 0 };
	struct iovec iov[2] = {
		{ .iov_base = zero, .iov_len = t->vnet_len },
		{ .iov_base = (void *)pkt, .iov_len = len },
	};
	ssize_t n;

	if (!t->vnet_len) {
		if (t->fd < 0)
			return -EBADF;
		do {
			n = write(t->fd, pkt, len);
		} while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	}
	return tun_writev(t, iov, 2, t->vnet_len + len);
}

/* One TCP segment of the core's for the kernel to cut into @seg_size
 * pieces; its TCP checksum field holds the pseudo-header sum only (stack.h,
 * tun_output_gso), which is what NEEDS_CSUM asks for. */
static ssize_t tun_write_gso(void *ctx, const struct zt_pkt_parts *pkt,
			     uint32_t seg_size)
{
	struct zr_tun *t = ctx;
	const uint8_t *p = pkt->hdr;
	size_t len = pkt->hdr_len; /* the headers are all in the first part */
	uint8_t vnet[VNET_MAX] = { 0 };
	struct virtio_net_hdr vh;
	size_t iphl, thl;
	struct iovec iov[4];
	uint8_t proto;
	ssize_t n;
	int cnt = 2;

	if (!t->vnet_len)
		return -EOPNOTSUPP;
	memset(&vh, 0, sizeof(vh));
	if (len >= 20 && (p[0] >> 4) == 4) {
		iphl = (size_t)(p[0] & 0x0f) * 4;
		proto = p[9];
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		iphl = 40;
		proto = p[6];
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	} else {
		return -EINVAL;
	}
	if (proto == ZT_IPPROTO_UDP) {
		/* a run of datagrams (zt_stack_udp_send_run()) */
		if (t->no_uso)
			return -EOPNOTSUPP;
		vh.gso_type = VNET_GSO_UDP_L4;
		thl = 8;
		vh.csum_offset = 6;
	} else {
		if (len < iphl + 20)
			return -EINVAL;
		thl = (size_t)(p[iphl + 12] >> 4) * 4;
		vh.csum_offset = 16;
		/* CWR goes on the first piece only (RFC 3168); the kernel
		 * sees to it when told, and without ECN would hand a device
		 * with TSO but no TSO_ECN the whole segment, CWR and all */
		if (p[iphl + 13] & ZT_TCP_CWR)  /* the flags byte */
			vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	}
	if (thl < 8 || len < iphl + thl)
		return -EINVAL;
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.hdr_len = (uint16_t)(iphl + thl);
	vh.gso_size = (uint16_t)seg_size;
	vh.csum_start = (uint16_t)iphl;
	memcpy(vnet, &vh, sizeof(vh));
	iov[0].iov_base = vnet;
	iov[0].iov_len = t->vnet_len;
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = len;
	if (pkt->l1) {
		iov[cnt].iov_base = (void *)pkt->d1;
		iov[cnt++].iov_len = pkt->l1;
	}
	if (pkt->l2) {
		iov[cnt].iov_base = (void *)pkt->d2;
		iov[cnt++].iov_len = pkt->l2;
	}
	n = tun_writev(t, iov, cnt, t->vnet_len + zt_pkt_parts_len(pkt));
	if (n == -EINVAL && proto == ZT_IPPROTO_UDP) {
		/* a kernel without UDP GSO from a TUN (before 6.2): the host
		 * cuts runs itself from now on */
		t->no_uso = true;
		return -EOPNOTSUPP;
	}
	return n;
}

static const char *tun_name(const void *ctx)
{
	const struct zr_tun *t = ctx;

	return t->ifname;
}

static unsigned tun_ifindex(const void *ctx)
{
	const struct zr_tun *t = ctx;

	return t->index;
}

static void tun_close(void *ctx)
{
	struct zr_tun *t = ctx;

	if (t->fd >= 0) {
		/* A clean close lifts the kill switch: the device goes away
		 * with this descriptor, its routes with it. */
		if (t->persist)
			(void)ioctl(t->fd, TUNSETPERSIST, 0);
		close(t->fd);
	}
	t->fd = -1;
	t->persist = false;
}

bool zr_tun_close_failed(struct zr_tun *t)
{
	bool keep = t->existed && t->fd >= 0;

	if (keep)
		t->persist = false;  /* found persistent: left so */
	tun_close(t);
	return keep;
}

const struct zt_tun_driver_ops zr_tun_linux_ops = {
	.read = tun_read,
	.write = tun_write,
	.name = tun_name,
	.ifindex = tun_ifindex,
	.close = tun_close,
	.write_gso = tun_write_gso,
};

/* Turn on the kernel's offloads toward us; without them the vnet header
 * still works (nothing arrives partial or coalesced). */
static void tun_set_offload(struct zr_tun *t)
{
	const unsigned tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	/* UDP_SEGMENT sends whole too where the kernel can (6.2 on) */
	t->uso = ioctl(t->fd, TUNSETOFFLOAD,
		       tso | VNET_TUN_F_USO4 | VNET_TUN_F_USO6) == 0;
	t->offload = t->uso || ioctl(t->fd, TUNSETOFFLOAD, tso) == 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Whether TUN @name has a reader: a queue attached turns its carrier on
 * (at once: IFF_RUNNING lags behind, for the kernel's link watch), the
 * last one detached off, as `ip link` shows NO-CARRIER after a
 * --kill-switch run died. A multi-queue TUN gives another queue to
 * whoever asks where a plain one refuses (EBUSY): a second ztun-ref
 * would take a share of the first's flows, and at exit lift its kill
 * switch. A device set down cannot be told; one that is no TUN (not
 * ARPHRD_NONE: Ethernet, a veth) is left to TUNSETIFF to refuse, as is
 * one rtnetlink cannot tell of. */
static bool in_use(const char *name)
{
	unsigned idx = if_nametoindex(name);

	return idx && zr_nl_link_carrier(idx) == 1;
}

/**
 * zr_tun_create() - create or attach to TUN interface @name.
 * @t: filled on success (close it with zr_tun_linux_ops.close)
 * @name: interface name (borrowed)
 * @flags: ZR_TUN_*
 *
 * Return: 0 or a negative errno.
 */
int zr_tun_create(struct zr_tun *t, const char *name, unsigned flags)
{
	struct ifreq ifr;
	int fd, err, rc;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (flags & ZR_TUN_MULTI_QUEUE)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	if (flags & ZR_TUN_OFFLOAD)
		ifr.ifr_flags |= IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	t->existed = if_nametoindex(name) != 0;
	if (t->existed && in_use(name)) {
		close(fd);
		return -EBUSY;
	}
	rc = ioctl(fd, TUNSETIFF, &ifr);
	if (rc < 0 && (flags & ZR_TUN_OFFLOAD) && errno == EINVAL) {
		/* An existing device made without vnet headers: plain. */
		ifr.ifr_flags &= (short)~IFF_VNET_HDR;
		flags &= ~(unsigned)ZR_TUN_OFFLOAD;
		rc = ioctl(fd, TUNSETIFF, &ifr);
	}
	if (rc < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	t->fd = fd;
	if (flags & ZR_TUN_OFFLOAD) {
		int sz = (int)sizeof(struct virtio_net_hdr);

		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
			err = -errno;
			close(fd);
			t->fd = -1;
			return err;
		}
		t->vnet_len = (size_t)sz;
		tun_set_offload(t);
	}
	if ((flags & ZR_TUN_PERSIST) && ioctl(fd, TUNSETPERSIST, 1) < 0) {
		err = -errno;
		close(fd);
		t->fd = -1;
		return err;
	}
	t->persist = flags & ZR_TUN_PERSIST;
	memcpy(t->ifname, ifr.ifr_name, IF_NAMESIZE);
	t->ifname[IF_NAMESIZE - 1] = 0;
	t->index = if_nametoindex(t->ifname);
	return 0;
}

/**
 * zr_tun_adopt_fd() - use an inherited TUN descriptor as is.
 * @t: filled on success; closing it closes @fd
 * @fd: the descriptor
 *
 * Return: 0 or a negative errno.
 */
int zr_tun_adopt_fd(struct zr_tun *t, int fd)
{
	struct ifreq ifr;
	int err;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (fcntl(fd, F_GETFD) < 0)
		return -errno;
	err = set_nonblock(fd);
	if (err)
		return err;
	t->fd = fd;
	t->inherited = true;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0) {
		memcpy(t->ifname, ifr.ifr_name, IF_NAMESIZE);
		t->ifname[IF_NAMESIZE - 1] = 0;
		t->index = if_nametoindex(t->ifname);
		if (ifr.ifr_flags & IFF_VNET_HDR) {
			int sz = 0;

			/* Whoever opened it chose vnet headers: speak them. */
			if (ioctl(fd, TUNGETVNETHDRSZ, &sz) < 0 ||
			    sz < (int)sizeof(struct virtio_net_hdr) || sz > VNET_MAX)
				return -EPROTONOSUPPORT;
			t->vnet_len = (size_t)sz;
			tun_set_offload(t);
		}
	}
	return 0;
}
