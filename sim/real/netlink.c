/* SPDX-License-Identifier: MIT */
/*
 * netlink.c - rtnetlink requests for ztun-ref (link, address, route).
 *
 * Theory of operation: a request is built in a stack buffer as one
 * nlmsghdr, its family header and rtattrs (nl_put appends one attribute,
 * aligned). nl_talk() sends it to the kernel and walks every reply: an
 * NLMSG_ERROR with error 0 is the ACK of a request, a negative one is its
 * failure; for dumps each message is handed to a callback until
 * NLMSG_DONE, whose payload is the dump's result: a negative one (the
 * dump stopped early) fails it. Replies are checked against the sequence
 * number and our own port so that stray messages are ignored, and taken
 * only from the kernel (the sender's nl_pid 0): any process with
 * CAP_NET_ADMIN in the namespace may send to our port, and the sequence
 * numbers are easily guessed. A request waits at most ZR_NL_TIMEOUT_MS
 * from its start for its whole answer (nl_wait(), a deadline: datagrams
 * that do not count cannot stretch it): a kernel that never answers fails
 * the request with -ETIMEDOUT instead of hanging the start or the stop. A dump
 * during which the table changed has NLM_F_DUMP_INTR on its messages (on
 * NLMSG_DONE at the latest) and may have missed any route: it is asked
 * again, up to ZR_NL_DUMP_TRIES times, as iproute2 and systemd-networkd
 * do. A datagram longer than the buffer (MSG_TRUNC) fails the request:
 * its lost part may have held anything, the ACK or the route that
 * mattered.
 *
 * Routes may name their next hop by a nexthop object (`ip route add ...
 * nhid N`): with net.ipv4.nexthop_compat_mode 0 a dump gives only its
 * id (RTA_NH_ID), no RTA_OIF nor RTA_MULTIPATH, and the device comes from
 * an RTM_GETNEXTHOP of it (a group's: of its members). A nexthop removed
 * between the dump and that request (-ENOENT) means the table changed:
 * the dump is asked again, as an interrupted one is.
 */
#include "real/netlink.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct nl_req {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rtm;
		struct nhmsg nhm;
	} u;
	char attrs[256];
};

typedef int (*nl_cb)(const struct nlmsghdr *nh, void *user);

/* Start @req afresh: a header of @type and @flags, then the zeroed
 * family header of @fam_len bytes (one of the union's) for the caller to
 * fill, and no attributes yet. */
static void nl_req_init(struct nl_req *req, uint16_t type, uint16_t flags,
			size_t fam_len)
{
	memset(req, 0, sizeof(*req));
	req->nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(fam_len);
	req->nh.nlmsg_type = type;
	req->nh.nlmsg_flags = flags;
}

static int nl_put(struct nl_req *req, unsigned short type, const void *data,
		  size_t len)
{
	size_t off = NLMSG_ALIGN(req->nh.nlmsg_len);
	struct rtattr *rta = (struct rtattr *)((char *)req + off);

	if (off + RTA_SPACE(len) > sizeof(*req))
		return -ENOSPC;
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
	return 0;
}

static zr_nl_socket_fn nl_socket_hook;
static unsigned nl_timeout_ms = ZR_NL_TIMEOUT_MS;

void zr_nl_set_socket_hook(zr_nl_socket_fn fn)
{
	nl_socket_hook = fn;
}

void zr_nl_set_timeout_ms(unsigned ms)
{
	nl_timeout_ms = ms ? ms : ZR_NL_TIMEOUT_MS;
}

/* Whether a datagram whose sender recvmsg() named @sa (@len bytes) comes
 * from the kernel. A netlink socket always names the sender, and the
 * kernel's port is 0. The tests' fake kernel is a socket pair, which
 * names none: its peer is the only socket that can send to it. */
static bool from_kernel(const struct sockaddr_nl *sa, socklen_t len)
{
	if (len == 0)
		return nl_socket_hook != NULL;
	return len >= sizeof(*sa) && sa->nl_family == AF_NETLINK &&
	       sa->nl_pid == 0;
}

/* A NETLINK_ROUTE socket bound to a port of its own (the kernel picks
 * it): its number into @port. Return: the descriptor or -errno. */
static int nl_open(const struct nl_req *req, uint32_t *port)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t salen = sizeof(sa);
	int fd;

	if (nl_socket_hook)
		return nl_socket_hook(&req->nh, port);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = sa.nl_pid;
	return fd;
}

/* Wait until @fd is readable, within nl_timeout_ms of @t0 (the
 * request's start: datagrams that do not count, forged or stray, do not
 * make the wait longer). Return 0, -ETIMEDOUT or -errno. */
static int nl_wait(int fd, const struct timespec *t0)
{
	for (;;) {
		struct timespec now;
		long long left;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long long)nl_timeout_ms -
		       ((long long)(now.tv_sec - t0->tv_sec) * 1000 +
			(now.tv_nsec - t0->tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Send @req; run @cb on each reply of a dump. Return 0 or -errno. */
static int nl_talk(struct nl_req *req, nl_cb cb, void *user)
{
	static uint32_t seq;
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	uint32_t port = 0;
	int fd, err = 0;
	bool done = false, intr = false;
	struct timespec t0;

	req->nh.nlmsg_seq = ++seq;
	req->nh.nlmsg_pid = 0;
	fd = nl_open(req, &port);
	if (fd < 0)
		return fd;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* unconnected netlink: send() goes to the kernel (port 0) */
	if (send(fd, req, req->nh.nlmsg_len, 0) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct sockaddr_nl from;
		struct msghdr msg = { .msg_name = &from,
				      .msg_namelen = sizeof(from),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		struct nlmsghdr *nh;

		err = nl_wait(fd, &t0);
		if (err)
			break;  /* no answer came in time, forged ones aside */
		n = recvmsg(fd, &msg, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			break;
		}
		if (!from_kernel(&from, msg.msg_namelen))
			continue;  /* forged: not even its length counts */
		if (n == 0) {
			err = -EIO;
			break;
		}
		if (msg.msg_flags & MSG_TRUNC) {
			/* the rest of the datagram is lost: what it held
			 * (a better route, the ACK) is not known */
			err = -EMSGSIZE;
			break;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != req->nh.nlmsg_seq ||
			    nh->nlmsg_pid != port)
				continue;
			if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (nh->nlmsg_type == NLMSG_DONE) {
				int res = 0;

				/* the dump's own result: an error (a route
				 * too big for a message, say) ends it early */
				if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(res)))
					memcpy(&res, NLMSG_DATA(nh), sizeof(res));
				if (res < 0 && !err)
					err = res;
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					err = -EIO;
				else if (e->error)
					err = e->error;
				done = true;
				break;
			}
			if (cb && !err)
				err = cb(nh, user);
		}
	}
	if (!err && intr)
		err = -EINTR;  /* a dump that missed changes: ask again */
out:
	close(fd);
	return err;
}

/**
 * zr_nl_link_up() - set @ifindex's MTU and transmit queue length (each
 * unless 0) and bring it up.
 * @ifindex: the interface
 * @mtu: new MTU, 0 to leave it
 * @txqlen: new txqueuelen, 0 to leave it (on a TUN: how many packets
 *	the kernel queues for ztun to read before it drops)
 *
 * Return: 0 or a negative errno.
 */
int zr_nl_link_up(unsigned ifindex, uint32_t mtu, uint32_t txqlen)
{
	struct nl_req req;
	int err;

	nl_req_init(&req, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK,
		    sizeof(struct ifinfomsg));
	req.u.ifi.ifi_family = AF_UNSPEC;
	req.u.ifi.ifi_index = (int)ifindex;
	req.u.ifi.ifi_flags = IFF_UP;
	req.u.ifi.ifi_change = IFF_UP;
	if (mtu) {
		err = nl_put(&req, IFLA_MTU, &mtu, sizeof(mtu));
		if (err)
			return err;
	}
	if (txqlen) {
		err = nl_put(&req, IFLA_TXQLEN, &txqlen, sizeof(txqlen));
		if (err)
			return err;
	}
	return nl_talk(&req, NULL, NULL);
}

static int link_carrier_cb(const struct nlmsghdr *nh, void *user)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int *on = user;
	int len;

	if (nh->nlmsg_type != RTM_NEWLINK ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	if (!(ifi->ifi_flags & IFF_UP) || ifi->ifi_type != ARPHRD_NONE)
		return 0;
	len = (int)IFLA_PAYLOAD(nh);
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == IFLA_CARRIER && RTA_PAYLOAD(rta) >= 1)
			*on = *(const uint8_t *)RTA_DATA(rta) != 0;
	return 0;
}

/**
 * zr_nl_link_carrier() - whether @ifindex is up, ARPHRD_NONE and has
 * carrier now (see netlink.h).
 * @ifindex: the interface
 *
 * Return: 1, 0 or a negative errno.
 */
int zr_nl_link_carrier(unsigned ifindex)
{
	struct nl_req req;
	int on = 0, err;

	nl_req_init(&req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK,
		    sizeof(struct ifinfomsg));
	req.u.ifi.ifi_family = AF_UNSPEC;
	req.u.ifi.ifi_index = (int)ifindex;
	err = nl_talk(&req, link_carrier_cb, &on);
	return err ? err : on;
}

/* An RTM_NEWADDR/RTM_DELADDR request for @addr/@prefix on @ifindex. */
static int addr_request(struct nl_req *req, uint16_t type, uint16_t flags,
			unsigned ifindex, const struct zt_addr *addr,
			uint8_t prefix)
{
	size_t alen = zt_addr_len(addr);
	int err;

	nl_req_init(req, type, flags, sizeof(struct ifaddrmsg));
	req->u.ifa.ifa_family = addr->family == ZT_AF_INET ? AF_INET : AF_INET6;
	req->u.ifa.ifa_prefixlen = prefix;
	req->u.ifa.ifa_index = ifindex;
	req->u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	err = nl_put(req, IFA_LOCAL, addr->bytes, alen);
	if (!err)
		err = nl_put(req, IFA_ADDRESS, addr->bytes, alen);
	return err;
}

/**
 * zr_nl_addr_add() - add @addr/@prefix to @ifindex, tagged IFA_PROTO
 * ZR_RTPROT_ZTUN (so that a later run can tell it from anyone else's).
 * @ifindex: the interface
 * @addr: IPv4 or IPv6 address (borrowed)
 * @prefix: prefix length
 *
 * Return: 0 or a negative errno.
 */
int zr_nl_addr_add(unsigned ifindex, const struct zt_addr *addr, uint8_t prefix)
{
	struct nl_req req;
	uint8_t proto = ZR_RTPROT_ZTUN;
	int err = addr_request(&req, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK |
			       NLM_F_CREATE | NLM_F_EXCL, ifindex, addr, prefix);

	if (addr->family == ZT_AF_INET6)
		req.u.ifa.ifa_flags = IFA_F_NODAD;
	if (!err)
		err = nl_put(&req, IFA_PROTO, &proto, sizeof(proto));
	return err ? err : nl_talk(&req, NULL, NULL);
}

/**
 * zr_nl_addr_del() - remove @addr/@prefix from @ifindex.
 * @ifindex: the interface
 * @addr: IPv4 or IPv6 address (borrowed)
 * @prefix: prefix length
 *
 * Return: 0 or a negative errno (-EADDRNOTAVAIL when it is not there).
 */
int zr_nl_addr_del(unsigned ifindex, const struct zt_addr *addr, uint8_t prefix)
{
	struct nl_req req;
	int err = addr_request(&req, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK,
			       ifindex, addr, prefix);

	return err ? err : nl_talk(&req, NULL, NULL);
}

struct addr_find {
	unsigned ifindex;
	struct zr_nl_addr *out;
	size_t cap, n;
};

static int our_addr_cb(const struct nlmsghdr *nh, void *user)
{
	struct addr_find *f = user;
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	const struct rtattr *rta;
	const void *local = NULL, *address = NULL;
	size_t alen;
	uint8_t proto = 0;
	int len;

	if (nh->nlmsg_type != RTM_NEWADDR ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
	    ifa->ifa_index != f->ifindex ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return 0;
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	len = (int)IFA_PAYLOAD(nh);
	for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_PROTO && RTA_PAYLOAD(rta) >= 1)
			memcpy(&proto, RTA_DATA(rta), 1);
		else if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) == alen)
			local = RTA_DATA(rta);
		else if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == alen)
			address = RTA_DATA(rta);
	}
	if (!local)
		local = address;  /* IPv6 gives IFA_ADDRESS alone */
	if (proto != ZR_RTPROT_ZTUN || !local)
		return 0;
	if (f->n == f->cap)
		return -ENOBUFS;
	f->out[f->n].addr = (struct zt_addr){
		.family = ifa->ifa_family == AF_INET ? ZT_AF_INET : ZT_AF_INET6 };
	memcpy(f->out[f->n].addr.bytes, local, alen);
	f->out[f->n++].prefix = ifa->ifa_prefixlen;
	return 0;
}

/**
 * zr_nl_addr_ours() - the addresses on @ifindex that ztun-ref added
 * (IFA_PROTO ZR_RTPROT_ZTUN), from an RTM_GETADDR dump (interrupted ones
 * done again, as for zr_nl_default_oif()).
 * @ifindex: the interface
 * @out: filled with them, caller-owned
 * @cap: room in @out
 *
 * Return: how many, or a negative errno (-ENOBUFS: more than @cap,
 * -EAGAIN: every dump was interrupted).
 */
int zr_nl_addr_ours(unsigned ifindex, struct zr_nl_addr *out, size_t cap)
{
	struct addr_find f;
	struct nl_req req;
	int err = -EINTR;

	for (unsigned try = 0; try < ZR_NL_DUMP_TRIES && err == -EINTR; try++) {
		f = (struct addr_find){ .ifindex = ifindex, .out = out,
					.cap = cap };
		nl_req_init(&req, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP,
			    sizeof(struct ifaddrmsg));
		req.u.ifa.ifa_family = AF_UNSPEC;
		err = nl_talk(&req, our_addr_cb, &f);
	}
	if (err == -EINTR)
		return -EAGAIN;
	return err ? err : (int)f.n;
}

struct route_pick {
	unsigned exclude;
	unsigned oif;
	uint32_t metric;
};

/* A multipath (ECMP) route lists its next hops in RTA_MULTIPATH, each a
 * struct rtnexthop (then its own attributes), and has no RTA_OIF: the
 * first next hop's interface that is not @exclude, or 0. Binding direct
 * sockets to it keeps them out of the TUN; the kernel then picks among
 * the next hops on that interface. */
static uint32_t multipath_oif(const struct rtattr *rta, unsigned exclude)
{
	const struct rtnexthop *nh = RTA_DATA(rta);
	int len = (int)RTA_PAYLOAD(rta);

	for (; len >= (int)sizeof(*nh) && RTNH_OK(nh, len);
	     len -= (int)RTNH_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh))
		if (nh->rtnh_ifindex > 0 && (unsigned)nh->rtnh_ifindex != exclude)
			return (uint32_t)nh->rtnh_ifindex;
	return 0;
}

/* The members of a nexthop group looked at, at most (the kernel's own
 * limit is 256; the first that leads somewhere is taken). */
#define NH_GROUP_MAX 32

struct nh_answer {
	bool seen;
	uint32_t oif;                   /* NHA_OIF, 0 without */
	uint32_t group[NH_GROUP_MAX];   /* NHA_GROUP's member ids */
	unsigned n_group;
};

static int nexthop_cb(const struct nlmsghdr *nh, void *user)
{
	struct nh_answer *ans = user;
	const struct nhmsg *nhm = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int len;

	if (nh->nlmsg_type != RTM_NEWNEXTHOP ||
	    nh->nlmsg_len < NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*nhm))))
		return 0;
	ans->seen = true;
	len = (int)(nh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*nhm))));
	rta = (const struct rtattr *)((const char *)nhm +
				      NLMSG_ALIGN(sizeof(*nhm)));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == NHA_OIF &&
		    RTA_PAYLOAD(rta) >= sizeof(uint32_t)) {
			memcpy(&ans->oif, RTA_DATA(rta), sizeof(ans->oif));
		} else if (rta->rta_type == NHA_GROUP) {
			const char *g = RTA_DATA(rta);
			size_t n = RTA_PAYLOAD(rta) / sizeof(struct nexthop_grp);

			for (size_t i = 0; i < n && ans->n_group < NH_GROUP_MAX; i++)
				memcpy(&ans->group[ans->n_group++],
				       g + i * sizeof(struct nexthop_grp) +
				       offsetof(struct nexthop_grp, id),
				       sizeof(uint32_t));
		}
	}
	return 0;
}

/*
 * nexthop_oif() - the device of nexthop object @id (RTM_GETNEXTHOP) for
 * a route not through @exclude: its own (NHA_OIF), or a group's first
 * member's that is not @exclude, as multipath_oif() takes. 0 for none: a
 * blackhole, or every member through @exclude. @member: @id is a group's
 * member, which the kernel never makes a group itself (so a kernel that
 * says otherwise cannot send this round in circles).
 * Return: the index, 0, or a negative errno (-ENOENT: no such nexthop,
 * removed since the dump).
 */
static int nexthop_oif(uint32_t id, unsigned exclude, bool member)
{
	struct nh_answer ans = { .seen = false };
	struct nl_req req;
	int err;

	nl_req_init(&req, RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_ACK,
		    sizeof(struct nhmsg));
	req.u.nhm.nh_family = AF_UNSPEC;
	err = nl_put(&req, NHA_ID, &id, sizeof(id));
	if (!err)
		err = nl_talk(&req, nexthop_cb, &ans);
	if (err)
		return err;
	if (!ans.seen)
		return -ENOENT;
	if (ans.oif)
		return ans.oif == exclude ? 0 : (int)ans.oif;
	for (unsigned i = 0; i < ans.n_group && !member; i++) {
		int oif = nexthop_oif(ans.group[i], exclude, true);

		if (oif)
			return oif;  /* a device, or an error */
	}
	return 0;
}

/* One RTM_GETROUTE dump of @family's routes (ZT_AF_*) through @cb:
 * -EINTR when the kernel marked it interrupted. */
static int route_dump(uint8_t family, nl_cb cb, void *user)
{
	struct nl_req req;

	nl_req_init(&req, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP,
		    sizeof(struct rtmsg));
	req.u.rtm.rtm_family = family == ZT_AF_INET ? AF_INET : AF_INET6;
	return nl_talk(&req, cb, user);
}

static int default_route_cb(const struct nlmsghdr *nh, void *user)
{
	struct route_pick *p = user;
	const struct rtmsg *rtm = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int len;
	uint32_t table, oif = 0, metric = 0, nh_id = 0;

	if (nh->nlmsg_type != RTM_NEWROUTE ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST)
		return 0;
	table = rtm->rtm_table;
	len = (int)RTM_PAYLOAD(nh);
	for (rta = RTM_RTA(rtm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (RTA_PAYLOAD(rta) < sizeof(uint32_t))
			continue;
		if (rta->rta_type == RTA_TABLE)
			memcpy(&table, RTA_DATA(rta), sizeof(table));
		else if (rta->rta_type == RTA_OIF)
			memcpy(&oif, RTA_DATA(rta), sizeof(oif));
		else if (rta->rta_type == RTA_PRIORITY)
			memcpy(&metric, RTA_DATA(rta), sizeof(metric));
		else if (rta->rta_type == RTA_MULTIPATH && !oif)
			oif = multipath_oif(rta, p->exclude);
		else if (rta->rta_type == RTA_NH_ID)
			memcpy(&nh_id, RTA_DATA(rta), sizeof(nh_id));
	}
	if (table != RT_TABLE_MAIN || (p->oif && metric >= p->metric))
		return 0;
	if (!oif && nh_id) {
		/* a nexthop object named by its id alone (the theory of
		 * operation): asked for now, on a socket of its own */
		int nh_oif = nexthop_oif(nh_id, p->exclude, false);

		if (nh_oif < 0)
			return nh_oif;
		oif = (uint32_t)nh_oif;
	}
	if (!oif || oif == p->exclude)
		return 0;
	if (!p->oif || metric < p->metric) {
		p->oif = oif;
		p->metric = metric;
	}
	return 0;
}

/**
 * zr_nl_default_oif() - the default route's interface (RTM_GETROUTE dump).
 * @family: ZT_AF_INET or ZT_AF_INET6
 * @exclude: an interface whose routes do not count (the TUN), or 0
 *
 * A dump interrupted by a change of the table (NLM_F_DUMP_INTR), or one
 * naming a nexthop removed before RTM_GETNEXTHOP asked for it, is not
 * taken: it is done again, at most ZR_NL_DUMP_TRIES times in all.
 *
 * Return: the interface index, 0 when there is no default route, or a
 * negative errno (-EAGAIN: every dump was interrupted; -ENOENT: the
 * last one named a nexthop that was gone).
 */
int zr_nl_default_oif(uint8_t family, unsigned exclude)
{
	struct route_pick pick;
	int err = -EINTR;

	/* -ENOENT: a nexthop the dump named was gone when asked for, the
	 * table changed since; dumped again as an interrupted dump is */
	for (unsigned try = 0;
	     try < ZR_NL_DUMP_TRIES && (err == -EINTR || err == -ENOENT); try++) {
		pick = (struct route_pick){ .exclude = exclude };
		err = route_dump(family, default_route_cb, &pick);
	}
	if (err == -EINTR)
		return -EAGAIN;  /* the table kept changing */
	if (err)
		return err;
	return (int)pick.oif;
}

struct host_find {
	const struct zt_addr *addr;
	bool found;
};

static int host_route_cb(const struct nlmsghdr *nh, void *user)
{
	struct host_find *f = user;
	const struct rtmsg *rtm = NLMSG_DATA(nh);
	const struct rtattr *rta;
	size_t alen = zt_addr_len(f->addr);
	uint32_t table;
	bool dst = false;
	int len;

	if (nh->nlmsg_type != RTM_NEWROUTE ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)) ||
	    rtm->rtm_dst_len != alen * 8)
		return 0;
	table = rtm->rtm_table;
	len = (int)RTM_PAYLOAD(nh);
	for (rta = RTM_RTA(rtm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == RTA_TABLE &&
		    RTA_PAYLOAD(rta) >= sizeof(table))
			memcpy(&table, RTA_DATA(rta), sizeof(table));
		else if (rta->rta_type == RTA_DST && RTA_PAYLOAD(rta) == alen)
			dst = !memcmp(RTA_DATA(rta), f->addr->bytes, alen);
	}
	if (dst && table == RT_TABLE_MAIN)
		f->found = true;
	return 0;
}

/**
 * zr_nl_host_route_exists() - whether the main table routes @addr/32 (or
 * /128) already, by a route of anyone's (RTM_GETROUTE dump).
 * @addr: the address (borrowed)
 *
 * Return: 1, 0, or a negative errno (-EAGAIN: every dump interrupted).
 */
int zr_nl_host_route_exists(const struct zt_addr *addr)
{
	struct host_find find;
	int err = -EINTR;

	for (unsigned try = 0; try < ZR_NL_DUMP_TRIES && err == -EINTR; try++) {
		find = (struct host_find){ .addr = addr };
		err = route_dump(addr->family, host_route_cb, &find);
	}
	if (err == -EINTR)
		return -EAGAIN;
	return err ? err : find.found;
}

static int route_request(struct nl_req *req, uint16_t type, uint16_t flags,
			 const struct zr_nl_route *r)
{
	size_t alen = zt_addr_len(&r->dst);
	int err;

	nl_req_init(req, type, flags, sizeof(struct rtmsg));
	req->u.rtm.rtm_family = r->dst.family == ZT_AF_INET ? AF_INET : AF_INET6;
	req->u.rtm.rtm_dst_len = r->prefix;
	req->u.rtm.rtm_table = RT_TABLE_MAIN;
	req->u.rtm.rtm_protocol = ZR_RTPROT_ZTUN;
	req->u.rtm.rtm_type = RTN_UNICAST;
	if (type == RTM_DELROUTE)
		req->u.rtm.rtm_scope = RT_SCOPE_NOWHERE;  /* any scope */
	else
		req->u.rtm.rtm_scope = r->has_gateway ? RT_SCOPE_UNIVERSE :
							RT_SCOPE_LINK;
	if (r->has_gateway && r->gateway.family != r->dst.family)
		return -EINVAL;
	err = nl_put(req, RTA_DST, r->dst.bytes, alen);
	if (!err && r->has_gateway)
		err = nl_put(req, RTA_GATEWAY, r->gateway.bytes, alen);
	if (!err && r->oif) {
		uint32_t oif = r->oif;

		err = nl_put(req, RTA_OIF, &oif, sizeof(oif));
	}
	return err;
}

/**
 * zr_nl_route_add() - add @r to the main table, protocol ZR_RTPROT_ZTUN.
 * @r: the route (borrowed)
 *
 * Return: 0 or a negative errno (-EEXIST when the same route exists).
 */
int zr_nl_route_add(const struct zr_nl_route *r)
{
	struct nl_req req;
	int err = route_request(&req, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK |
				NLM_F_CREATE | NLM_F_EXCL, r);

	return err ? err : nl_talk(&req, NULL, NULL);
}

/**
 * zr_nl_route_del() - delete @r from the main table; only a route of
 * protocol ZR_RTPROT_ZTUN matches.
 * @r: the route (borrowed)
 *
 * Return: 0 or a negative errno (-ESRCH when no such route exists).
 */
int zr_nl_route_del(const struct zr_nl_route *r)
{
	struct nl_req req;
	int err = route_request(&req, RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, r);

	return err ? err : nl_talk(&req, NULL, NULL);
}

struct route_answer {
	struct zr_nl_route *out;
	uint8_t type;
	bool seen;
	bool via;
};

static int route_get_cb(const struct nlmsghdr *nh, void *user)
{
	struct route_answer *ans = user;
	const struct rtmsg *rtm = NLMSG_DATA(nh);
	const struct rtattr *rta;
	size_t alen = zt_addr_len(&ans->out->dst);
	int len;

	if (nh->nlmsg_type != RTM_NEWROUTE ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	ans->seen = true;
	ans->type = rtm->rtm_type;
	len = (int)RTM_PAYLOAD(nh);
	for (rta = RTM_RTA(rtm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) >= sizeof(uint32_t)) {
			uint32_t oif;

			memcpy(&oif, RTA_DATA(rta), sizeof(oif));
			ans->out->oif = oif;
		} else if (rta->rta_type == RTA_GATEWAY &&
			   RTA_PAYLOAD(rta) == alen) {
			ans->out->gateway.family = ans->out->dst.family;
			memcpy(ans->out->gateway.bytes, RTA_DATA(rta), alen);
			ans->out->has_gateway = true;
		} else if (rta->rta_type == RTA_VIA) {
			ans->via = true;
		}
	}
	return 0;
}

/**
 * zr_nl_route_get() - the kernel's route to @dst now.
 * @dst: the destination (borrowed)
 * @out: filled: dst, full-length prefix, gateway when there is one, oif
 * @type: set to the route's RTN_* type
 *
 * Return: 0 or a negative errno.
 */
int zr_nl_route_get(const struct zt_addr *dst, unsigned oif,
		    struct zr_nl_route *out, uint8_t *type)
{
	uint32_t oif32 = oif;
	struct nl_req req;
	struct route_answer ans = { .out = out };
	size_t alen = zt_addr_len(dst);
	int err;

	memset(out, 0, sizeof(*out));
	out->dst = *dst;
	out->prefix = (uint8_t)(alen * 8);
	nl_req_init(&req, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK,
		    sizeof(struct rtmsg));
	req.u.rtm.rtm_family = dst->family == ZT_AF_INET ? AF_INET : AF_INET6;
	req.u.rtm.rtm_dst_len = out->prefix;
	err = nl_put(&req, RTA_DST, dst->bytes, alen);
	if (!err && oif)
		err = nl_put(&req, RTA_OIF, &oif32, sizeof(oif32));
	if (!err)
		err = nl_talk(&req, route_get_cb, &ans);
	if (err)
		return err;
	if (!ans.seen)
		return -ENETUNREACH;
	if (ans.via)
		return -EOPNOTSUPP;
	*type = ans.type;
	return 0;
}
