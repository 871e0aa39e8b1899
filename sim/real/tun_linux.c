/* SPDX-License-Identifier: MIT */
/*
 * tun_linux.c - the Linux TUN driver: /dev/net/tun, IFF_TUN | IFF_NO_PI.
 *
 * Theory of operation: TUNSETIFF binds the open clone device to an
 * interface (created if missing, non-persistent: it goes away with the
 * last descriptor). Every read returns one whole packet and every write
 * injects one, so the ops are thin wrappers turning -1/errno into negative
 * errno returns. An adopted descriptor (--tun-fd) is only made
 * non-blocking; TUNGETIFF tells its name when it is a TUN at all.
 */
#include "real/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static ssize_t tun_read(void *ctx, void *buf, size_t len, uint64_t *when)
{
	struct zr_tun *t = ctx;
	ssize_t n;

	(void)when; /* the host reads its clock once per wake-up */
	if (t->fd < 0)
		return -EBADF;
	do {
		n = read(t->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static ssize_t tun_write(void *ctx, const void *pkt, size_t len)
{
	struct zr_tun *t = ctx;
	ssize_t n;

	if (t->fd < 0)
		return -EBADF;
	do {
		n = write(t->fd, pkt, len);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
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

	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

const struct zt_tun_driver_ops zr_tun_linux_ops = {
	.read = tun_read,
	.write = tun_write,
	.name = tun_name,
	.ifindex = tun_ifindex,
	.close = tun_close,
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/**
 * zr_tun_create() - create or attach to TUN interface @name.
 * @t: filled on success (close it with zr_tun_linux_ops.close)
 * @name: interface name (borrowed)
 * @flags: ZR_TUN_MULTI_QUEUE or 0
 *
 * Return: 0 or a negative errno.
 */
int zr_tun_create(struct zr_tun *t, const char *name, unsigned flags)
{
	struct ifreq ifr;
	int fd, err;

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
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	t->fd = fd;
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
	}
	return 0;
}
