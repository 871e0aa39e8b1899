/* SPDX-License-Identifier: MIT */
/*
 * test_autoroute.c - ztun-ref --auto-route (sim/real/autoroute.c): its
 * start with a state file left in its directory, and with proxy host
 * routes that exist already or appear meanwhile, and a proxy's move,
 * against a fake kernel (zr_nl_set_socket_hook()) that records what the
 * state file said at each request (what a SIGKILL then would leave): no
 * test here changes a real route. The log lines are captured from
 * stderr and checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "real/autoroute.h"
#include "real/netlink.h"
#include "test.h"

/* No kernel: every rtnetlink request fails. */
static int no_kernel(const struct nlmsghdr *req, uint32_t *port)
{
	(void)req;
	(void)port;
	return -ENETDOWN;
}

#define FAKE_PORT 4711u
#define FAKE_REQS 32
#define FAKE_GW "10.77.0.1"

/* A kernel whose route to anything is "via FAKE_GW dev lo", whose main
 * table has a host route to @existing (when set), and which answers a
 * route added to @eexist (when set) with -EEXIST, as if someone had just
 * added it, any other with an ACK; a dump ends in @dump_err (0: the
 * whole table). Each request's type is recorded, with
 * what the state file @path said at that moment (what a SIGKILL then
 * would leave). */
static struct {
	const char *path;
	const char *existing;
	const char *eexist;
	int dump_err;  /* NLMSG_DONE's result for a dump (0: complete) */
	uint32_t tun_oif; /* set: a lookup with no RTA_OIF leads into it */
	unsigned n;
	uint16_t type[FAKE_REQS];
	char dst[FAKE_REQS][ZT_ADDR_STRLEN];  /* of a route added, deleted */
	char file[FAKE_REQS][512];
	int peer[FAKE_REQS];
} fk;

static void fk_put(int peer, uint16_t type, uint16_t flags, uint32_t seq,
		   const void *payload, size_t len)
{
	union {
		struct nlmsghdr nh;
		char bytes[512];
	} m;

	CU_ASSERT_FATAL(NLMSG_SPACE(len) <= sizeof(m));
	memset(&m, 0, sizeof(m));
	m.nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(len);
	m.nh.nlmsg_type = type;
	m.nh.nlmsg_flags = flags;
	m.nh.nlmsg_seq = seq;
	m.nh.nlmsg_pid = FAKE_PORT;
	memcpy(NLMSG_DATA(&m.nh), payload, len);
	CU_ASSERT_FATAL(send(peer, &m, m.nh.nlmsg_len, 0) ==
			(ssize_t)m.nh.nlmsg_len);
}

static void fk_ack(int peer, uint32_t seq, int error)
{
	struct nlmsgerr e;

	memset(&e, 0, sizeof(e));
	e.error = error;
	fk_put(peer, NLMSG_ERROR, 0, seq, &e, sizeof(e));
}

/* An IPv4 route message: @dst/@dst_len [via @gw] dev @oif, main table. */
static void fk_route(int peer, uint16_t flags, uint32_t seq, const char *dst,
		     uint8_t dst_len, const char *gw, uint32_t oif)
{
	char buf[256] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct rtmsg *rtm = (struct rtmsg *)buf;
	struct rtattr *rta = RTM_RTA(rtm);
	struct zt_addr a;

	memset(buf, 0, sizeof(buf));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = dst_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_type = RTN_UNICAST;
	rtm->rtm_protocol = ZR_RTPROT_ZTUN;
	CU_ASSERT_FATAL(zt_addr_parse(dst, &a) == 0);
	rta->rta_type = RTA_DST;
	rta->rta_len = RTA_LENGTH(4);
	memcpy(RTA_DATA(rta), a.bytes, 4);
	rta = (struct rtattr *)((char *)rta + RTA_SPACE(4));
	if (gw) {
		CU_ASSERT_FATAL(zt_addr_parse(gw, &a) == 0);
		rta->rta_type = RTA_GATEWAY;
		rta->rta_len = RTA_LENGTH(4);
		memcpy(RTA_DATA(rta), a.bytes, 4);
		rta = (struct rtattr *)((char *)rta + RTA_SPACE(4));
	}
	rta->rta_type = RTA_OIF;
	rta->rta_len = RTA_LENGTH(4);
	memcpy(RTA_DATA(rta), &oif, 4);
	rta = (struct rtattr *)((char *)rta + RTA_SPACE(4));
	fk_put(peer, RTM_NEWROUTE, flags, seq, buf,
	       (size_t)((char *)rta - buf));
}

static int fake_kernel(const struct nlmsghdr *req, uint32_t *port)
{
	const struct rtmsg *rtm = NLMSG_DATA(req);
	const struct rtattr *rta = RTM_RTA(rtm);
	uint32_t seq = req->nlmsg_seq;
	unsigned i = fk.n;
	int sv[2], len;
	FILE *fp;

	if (i == FAKE_REQS ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -EMFILE;
	fk.n++;
	fk.peer[i] = sv[1];
	fk.type[i] = req->nlmsg_type;
	fp = fopen(fk.path, "r");
	if (fp) {
		fk.file[i][fread(fk.file[i], 1, sizeof(fk.file[i]) - 1, fp)] = 0;
		fclose(fp);
	}
	*port = FAKE_PORT;
	if (req->nlmsg_type == RTM_GETROUTE && (req->nlmsg_flags & NLM_F_DUMP)) {
		int done = fk.dump_err;

		fk_route(sv[1], NLM_F_MULTI, seq, "0.0.0.0", 0, FAKE_GW, 1);
		if (fk.existing)
			fk_route(sv[1], NLM_F_MULTI, seq, fk.existing, 32,
				 FAKE_GW, 1);
		fk_put(sv[1], NLMSG_DONE, NLM_F_MULTI, seq, &done, sizeof(done));
	} else if (req->nlmsg_type == RTM_GETROUTE) {
		char a[ZT_ADDR_STRLEN];

		uint32_t oif = 0;

		CU_ASSERT_FATAL(rta->rta_type == RTA_DST);
		inet_ntop(AF_INET, RTA_DATA(rta), a, sizeof(a));
		len = (int)RTM_PAYLOAD(req);
		for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
			if (rta->rta_type == RTA_OIF)
				memcpy(&oif, RTA_DATA(rta), 4);
		if (fk.tun_oif && !oif)
			fk_route(sv[1], 0, seq, a, 32, NULL, fk.tun_oif);
		else
			fk_route(sv[1], 0, seq, a, 32, FAKE_GW, 1);
		fk_ack(sv[1], seq, 0);
	} else if (req->nlmsg_type == RTM_NEWROUTE ||
		   req->nlmsg_type == RTM_DELROUTE) {
		len = (int)RTM_PAYLOAD(req);
		for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
			if (rta->rta_type == RTA_DST)
				inet_ntop(AF_INET, RTA_DATA(rta), fk.dst[i],
					  sizeof(fk.dst[i]));
		fk_ack(sv[1], seq, req->nlmsg_type == RTM_NEWROUTE &&
				   fk.eexist && !strcmp(fk.dst[i], fk.eexist) ?
				   -EEXIST : 0);
	} else {
		fk_ack(sv[1], seq, 0);
	}
	shutdown(sv[1], SHUT_WR);
	return sv[0];
}

static void fk_begin(const char *path, const char *existing, const char *eexist)
{
	memset(&fk, 0, sizeof(fk));
	fk.path = path;
	fk.existing = existing;
	fk.eexist = eexist;
	zr_nl_set_socket_hook(fake_kernel);
}

static void fk_end(void)
{
	zr_nl_set_socket_hook(NULL);
	for (unsigned i = 0; i < fk.n; i++)
		close(fk.peer[i]);
}

/* Whether the state file listed @what at any request so far. */
static bool fk_file_listed(const char *what)
{
	for (unsigned i = 0; i < fk.n; i++)
		if (strstr(fk.file[i], what))
			return true;
	return false;
}

/* The first request of @type (RTM_NEWROUTE, RTM_DELROUTE) for a route
 * to @dst: its index, or -1. */
static int fk_asked(uint16_t type, const char *dst)
{
	for (unsigned i = 0; i < fk.n; i++)
		if (fk.type[i] == type && !strcmp(fk.dst[i], dst))
			return (int)i;
	return -1;
}

/* Whether a route to @dst was asked to be added. */
static bool fk_added(const char *dst)
{
	return fk_asked(RTM_NEWROUTE, dst) >= 0;
}

/* Whether a route to @dst was asked to be deleted. */
static bool fk_deleted(const char *dst)
{
	return fk_asked(RTM_DELROUTE, dst) >= 0;
}

struct fixture {
	char dir[64];
	char path[128];
	char log[128];
	struct zr_config cfg;
	struct zr_tun tun;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/zt-autoroute-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(f->dir) != NULL);
	snprintf(f->cfg.state_dir, sizeof(f->cfg.state_dir), "%s", f->dir);
	/* a device that does not exist: no route through it can be added */
	snprintf(f->tun.ifname, sizeof(f->tun.ifname), "za-none0");
	f->tun.index = 4242;
	f->tun.fd = -1;
	snprintf(f->path, sizeof(f->path), "%s/za-none0.routes", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
}

static void fixture_done(struct fixture *f)
{
	unlink(f->path);
	unlink(f->log);
	CU_ASSERT_EQUAL(rmdir(f->dir), 0);
}

static void put_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	CU_ASSERT_FATAL(fp != NULL);
	fputs(text, fp);
	fclose(fp);
}

/* The file's text into @buf (NUL-terminated); "" when it is gone. */
static void get_file(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(buf, 1, cap - 1, fp);
		fclose(fp);
	}
	buf[n] = 0;
}

/* stderr into @f->log until log_end() (returns what log_begin() gives). */
static int log_begin(const struct fixture *f)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void log_end(int saved)
{
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* zr_autoroute_start() with stderr into @f->log, without a kernel. */
static int start_logged(struct fixture *f, struct zr_autoroute *ar)
{
	int saved = log_begin(f);
	int rc;

	zr_nl_set_socket_hook(no_kernel);
	rc = zr_autoroute_start(ar, &f->cfg, &f->tun);
	zr_nl_set_socket_hook(NULL);
	log_end(saved);
	return rc;
}

/* A state file of a newer format (a newer ztun-ref's, after a downgrade)
 * lists routes this version may not understand: it is left as it is,
 * routes and file, and the start fails naming the file and the format. */
static void test_newer_state_file(void)
{
	static const char newer[] =
		"ztun-ref-routes 3\n"
		"pid 1\n"
		"route 192.0.2.10/32 via 10.0.2.2 dev eth0 table 100\n";
	static struct zr_autoroute ar;
	struct fixture f;
	char text[512], log[2048];
	int rc;

	fixture_init(&f);
	put_file(f.path, newer);
	rc = start_logged(&f, &ar);
	CU_ASSERT_EQUAL(rc, -EPROTONOSUPPORT);
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, newer);
	get_file(f.log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, f.path));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "format 3"));
	zr_autoroute_stop(&ar);
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, newer);
	fixture_done(&f);
}

/* A host route to the proxy exists already: another ztun-ref's (it has
 * protocol 122 too), or the administrator's. It is left as it is, and
 * never listed in this run's state file, not even for a moment: a
 * SIGKILL then would have the next start delete it (seen with two
 * ztun-ref on different TUNs: the second one's next start took the
 * first one's proxy route away, and the proxy connection of the first
 * looped into its own TUN). */
static void test_existing_proxy_route(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	char log[4096];
	int saved, rc;

	fixture_init(&f);
	f.cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.10", &f.cfg.socks5.server.addr) == 0);
	fk_begin(f.path, "192.0.2.10", "192.0.2.10");
	saved = log_begin(&f);
	rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
	log_end(saved);
	/* the split routes cannot be added: there is no such TUN */
	CU_ASSERT_EQUAL(rc, -ENODEV);
	CU_ASSERT(!fk_file_listed("192.0.2.10"));
	CU_ASSERT(!fk_added("192.0.2.10"));
	get_file(f.log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "192.0.2.10/32 via " FAKE_GW
					   " dev lo exists already; left as it is"));
	fk_end();
	zr_autoroute_stop(&ar);
	fixture_done(&f);
}

/* Two proxies; the first one's host route is added by someone else
 * between the look and the add (-EEXIST): it leaves the state file
 * before the next route is added. */
static void test_proxy_route_added_meanwhile(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	unsigned at = FAKE_REQS;
	int saved, rc;

	fixture_init(&f);
	f.cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.10", &f.cfg.socks5.server.addr) == 0);
	f.cfg.http.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.11", &f.cfg.http.server.addr) == 0);
	fk_begin(f.path, NULL, "192.0.2.10");
	saved = log_begin(&f);
	rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
	log_end(saved);
	CU_ASSERT_EQUAL(rc, -ENODEV);
	CU_ASSERT(fk_added("192.0.2.10"));
	for (unsigned i = 0; i < fk.n; i++)
		if (fk.type[i] == RTM_NEWROUTE && !strcmp(fk.dst[i], "192.0.2.11"))
			at = i;
	if (at < fk.n) {
		CU_ASSERT_PTR_NOT_NULL(strstr(fk.file[at], "route 192.0.2.11/32"));
		CU_ASSERT_PTR_NULL(strstr(fk.file[at], "192.0.2.10"));
	} else {
		CU_FAIL("192.0.2.11 was not added");
	}
	fk_end();
	zr_autoroute_stop(&ar);
	fixture_done(&f);
}

/* The TUN outlived a killed run (--kill-switch): the proxy host route its
 * state file lists is ours to take over, though it exists already. */
static void test_kept_proxy_route(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	int saved, rc;

	fixture_init(&f);
	f.tun.existed = true;
	f.cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.10", &f.cfg.socks5.server.addr) == 0);
	put_file(f.path, "ztun-ref-routes 1\npid 1\n"
		 "route 192.0.2.10/32 via " FAKE_GW " dev lo\n"
		 "route 0.0.0.0/1 dev za-none0\n");
	fk_begin(f.path, "192.0.2.10", "192.0.2.10");
	saved = log_begin(&f);
	rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
	log_end(saved);
	CU_ASSERT_EQUAL(rc, -ENODEV);
	CU_ASSERT(fk_added("192.0.2.10"));     /* planned: kept, ours */
	fk_end();
	zr_autoroute_stop(&ar);
	fixture_done(&f);
}

/* The TUN outlived a killed run (--kill-switch) and the proxy moved
 * since: the kept split routes take the new address into the TUN, so its
 * route is asked of the egress, as on a SIGHUP (not a loop, -ELOOP). */
static void test_kept_moved_proxy(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	int saved, rc;

	fixture_init(&f);
	f.tun.existed = true;
	strcpy(f.cfg.egress, "lo");
	f.cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.30", &f.cfg.socks5.server.addr) == 0);
	put_file(f.path, "ztun-ref-routes 1\npid 1\n"
		 "route 192.0.2.10/32 via " FAKE_GW " dev lo\n"
		 "route 0.0.0.0/1 dev za-none0\n");
	fk_begin(f.path, NULL, NULL);
	fk.tun_oif = f.tun.index;
	saved = log_begin(&f);
	rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
	log_end(saved);
	CU_ASSERT_EQUAL(rc, -ENODEV);          /* at the split route's device */
	CU_ASSERT(fk_added("192.0.2.30"));     /* by the egress's route */
	fk_end();
	zr_autoroute_stop(&ar);
	fixture_done(&f);
}

/* The state file of a killed --kill-switch run on @f's TUN, which
 * outlived it (persistent): its proxy 192.0.2.10's host route and a
 * split route. */
static const char kill_switch_file[] =
	"ztun-ref-routes 1\n"
	"pid 1\n"
	"route 192.0.2.10/32 via " FAKE_GW " dev lo\n"
	"route 0.0.0.0/1 dev za-none0\n";

/* A start on @f's TUN, which a killed --kill-switch run left (its file
 * kill_switch_file), with its proxy moved to 192.0.2.30, an address the
 * kept split routes take into the TUN; @egress: the interface to ask
 * its route of ("": none). Return: what zr_autoroute_start() returned
 * (the fake kernel's record left for the caller to check and end). */
static int kill_switch_start(struct fixture *f, struct zr_autoroute *ar,
			     const char *egress)
{
	int saved, rc;

	fixture_init(f);
	f->tun.existed = true;
	strcpy(f->cfg.egress, egress);
	f->cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.30", &f->cfg.socks5.server.addr) == 0);
	put_file(f->path, kill_switch_file);
	fk_begin(f->path, NULL, NULL);
	fk.tun_oif = f->tun.index;
	saved = log_begin(f);
	rc = zr_autoroute_start(ar, &f->cfg, &f->tun);
	zr_autoroute_stop(ar);  /* not active: nothing */
	log_end(saved);
	return rc;
}

/* A start on the TUN a killed --kill-switch run left fails before its
 * own state file is written (its proxy moved, and no egress to ask its
 * route of: a loop): the kill switch stays as it was found, the routes
 * not deleted, the old file as it was. Before, both went (and ztun-ref
 * then let the device go): traffic leaked around the TUN. */
static void test_kill_switch_kept_plan_fails(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	char text[512];

	CU_ASSERT_EQUAL(kill_switch_start(&f, &ar, ""), -ELOOP);
	CU_ASSERT(!fk_deleted("192.0.2.10"));
	CU_ASSERT(!fk_added("192.0.2.30"));
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, kill_switch_file);
	fk_end();
	fixture_done(&f);
}

/* Such a start fails while adding its routes (the moved proxy's host
 * route added by the egress's route, then a split route refused): the
 * new host route goes (it would let the address around the TUN later),
 * the routes found stay, the old proxy's host route included (the old
 * file listed it; before, it went before the plan was in place), and the
 * file lists them under the dead run's pid, for the next start to take
 * over. */
static void test_kill_switch_kept_add_fails(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	char text[512];

	/* the split route: no such TUN */
	CU_ASSERT_EQUAL(kill_switch_start(&f, &ar, "lo"), -ENODEV);
	CU_ASSERT(fk_added("192.0.2.30"));
	CU_ASSERT(fk_deleted("192.0.2.30"));
	CU_ASSERT(!fk_deleted("192.0.2.10"));
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "pid 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "route 192.0.2.10/32 via " FAKE_GW " dev lo\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "route 0.0.0.0/1 dev za-none0\n"));
	CU_ASSERT_PTR_NULL(strstr(text, "192.0.2.30"));
	CU_ASSERT_PTR_NULL(strstr(text, "128.0.0.0"));
	fk_end();
	fixture_done(&f);
}

/* A start on a TUN found in place whose routes all go in: the route it
 * took over and does not plan again (a proxy's old host route) stays
 * until ztun-ref's whole setup succeeded (zr_autoroute_commit(): then it
 * goes, after the plan is in place). When the setup fails before (say at
 * --fake-dns), zr_autoroute_abort() removes what this start added (a
 * split route the dead run had not) and keeps what it found, that one
 * included, listed under the old pid. */
static void test_kill_switch_kept_abort(void)
{
	static const char found[] =
		"ztun-ref-routes 1\npid 1\n"
		"route 192.0.2.9/32 via " FAKE_GW " dev lo\n"
		"route 192.0.2.10/32 via " FAKE_GW " dev lo\n"
		"route 0.0.0.0/1 dev lo\n";
	static struct zr_autoroute ar;
	struct fixture f;
	char text[512];
	int saved, rc;

	fixture_init(&f);
	f.tun.existed = true;
	strcpy(f.tun.ifname, "lo");  /* a device there: every route added */
	snprintf(f.path, sizeof(f.path), "%s/lo.routes", f.dir);
	f.cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.10", &f.cfg.socks5.server.addr) == 0);
	for (int commit = 1; commit >= 0; commit--) {
		put_file(f.path, found);
		fk_begin(f.path, NULL, NULL);
		saved = log_begin(&f);
		rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT(fk_added("128.0.0.0"));
		CU_ASSERT(!fk_deleted("192.0.2.9"));
		get_file(f.path, text, sizeof(text));
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "route 192.0.2.9/32"));
		if (commit) {
			zr_autoroute_commit(&ar);
			CU_ASSERT(fk_deleted("192.0.2.9"));
			get_file(f.path, text, sizeof(text));
			CU_ASSERT_PTR_NULL(strstr(text, "192.0.2.9/"));
			CU_ASSERT_PTR_NOT_NULL(strstr(text, "route 128.0.0.0/1 dev lo\n"));
			zr_autoroute_stop(&ar);
		} else {
			fk_end();
			fk_begin(f.path, NULL, NULL);
			zr_autoroute_abort(&ar);
			zr_autoroute_abort(&ar);  /* twice: nothing more */
			CU_ASSERT(fk_deleted("128.0.0.0"));
			CU_ASSERT_EQUAL(fk.n, 1);  /* that one alone */
			get_file(f.path, text, sizeof(text));
			CU_ASSERT_STRING_EQUAL(text, "ztun-ref-routes 1\npid 1\n"
					       "route 192.0.2.10/32 via " FAKE_GW " dev lo\n"
					       "route 0.0.0.0/1 dev lo\n"
					       "route 192.0.2.9/32 via " FAKE_GW " dev lo\n");
		}
		log_end(saved);
		fk_end();
	}
	fixture_done(&f);
}

/* @ar as an active run on @f's TUN whose state file lists its two IPv4
 * split routes (0/1, 128/1), both its own. */
static void active_split_run(struct zr_autoroute *ar, const struct fixture *f)
{
	struct zt_addr lo, hi;

	CU_ASSERT_FATAL(zt_addr_parse("0.0.0.0", &lo) == 0);
	CU_ASSERT_FATAL(zt_addr_parse("128.0.0.0", &hi) == 0);
	memset(ar, 0, sizeof(*ar));
	snprintf(ar->path, sizeof(ar->path), "%s", f->path);
	ar->state.owner.pid = 4242;
	ar->state.count = 2;
	ar->state.routes[0] = (struct zr_route){ .dst = lo, .prefix = 1 };
	ar->state.routes[1] = (struct zr_route){ .dst = hi, .prefix = 1 };
	strcpy(ar->state.routes[0].dev, f->tun.ifname);
	strcpy(ar->state.routes[1].dev, f->tun.ifname);
	ar->ours[0] = ar->ours[1] = true;
	ar->active = true;
	CU_ASSERT_FATAL(zr_route_state_write(f->path, &ar->state) == 0);
}

/* An active run (its split routes in its file) whose proxy moved: the
 * new address's host route, when there is one already, is left out of
 * the state file; when someone else adds it between the look and the
 * add (-EEXIST), it is taken out of the file again. */
static void test_moved_proxy_route_exists(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	struct zr_route_state back;
	struct zt_addr to;
	char text[1024];
	int saved;

	fixture_init(&f);
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.20", &to) == 0);
	for (int round = 0; round < 2; round++) {
		active_split_run(&ar, &f);
		/* round 0: there already; round 1: added meanwhile */
		fk_begin(f.path, round ? NULL : "192.0.2.20", "192.0.2.20");
		saved = log_begin(&f);
		CU_ASSERT_EQUAL(zr_autoroute_proxy_moved(&ar, &to, &f.tun, ""), 0);
		log_end(saved);
		if (!round) {
			CU_ASSERT(!fk_file_listed("192.0.2.20"));
			CU_ASSERT(!fk_added("192.0.2.20"));
		}
		get_file(f.path, text, sizeof(text));
		CU_ASSERT_PTR_NULL(strstr(text, "192.0.2.20"));
		CU_ASSERT_EQUAL(zr_route_state_read(f.path, &back, NULL), 0);
		CU_ASSERT_EQUAL(back.count, 2);
		CU_ASSERT_EQUAL(ar.state.count, 2);
		fk_end();
		/* stop: the split routes go (no such device: gone already) */
		fk_begin(f.path, NULL, NULL);
		saved = log_begin(&f);
		zr_autoroute_stop(&ar);
		log_end(saved);
		CU_ASSERT(!fk_added("192.0.2.20"));
		fk_end();
	}
	fixture_done(&f);
}

/* The look for a moved proxy's host route fails (the dump ends in an
 * error; every dump interrupted is -EAGAIN alike): the move fails and
 * nothing changed, the list included. Its route planned and kept there
 * would be taken for the pin by the next move to that address, which
 * then added nothing (the proxy's connections into the TUN), and be
 * written to the file with the next change, never added. */
static void test_moved_proxy_route_look_fails(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	struct zt_addr to;
	char text[1024];
	int saved;

	fixture_init(&f);
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.20", &to) == 0);
	active_split_run(&ar, &f);
	fk_begin(f.path, NULL, NULL);
	fk.dump_err = -ENOMEM;
	saved = log_begin(&f);
	CU_ASSERT_EQUAL(zr_autoroute_proxy_moved(&ar, &to, &f.tun, ""), -ENOMEM);
	log_end(saved);
	CU_ASSERT_EQUAL(ar.state.count, 2);
	CU_ASSERT(!fk_added("192.0.2.20"));
	fk_end();
	/* the next lookup finds it there again: now it is pinned */
	fk_begin(f.path, NULL, NULL);
	saved = log_begin(&f);
	CU_ASSERT_EQUAL(zr_autoroute_proxy_moved(&ar, &to, &f.tun, ""), 0);
	log_end(saved);
	CU_ASSERT(fk_added("192.0.2.20"));
	CU_ASSERT_EQUAL(ar.state.count, 3);
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "192.0.2.20"));
	fk_end();
	fk_begin(f.path, NULL, NULL);
	saved = log_begin(&f);
	zr_autoroute_stop(&ar);
	log_end(saved);
	fk_end();
	fixture_done(&f);
}

/* The state file's pid is a ztun-ref that was SIGKILLed and is not yet
 * reaped by its parent (a zombie: /proc/PID/comm still says ztun-ref):
 * it is dead, its routes are cleaned up, the start goes on; a living
 * one fails the start. */
static void test_zombie_owner(void)
{
	static struct zr_autoroute ar;
	struct fixture f;
	char text[128], log[4096];
	pid_t pid;
	int saved, rc;

	for (int dead = 0; dead < 2; dead++) {
		fixture_init(&f);
		pid = zt_test_child_named("ztun-ref", dead);
		snprintf(text, sizeof(text), "ztun-ref-routes 1\npid %ld\n", (long)pid);
		put_file(f.path, text);
		fk_begin(f.path, NULL, NULL);
		saved = log_begin(&f);
		rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
		log_end(saved);
		fk_end();
		zr_autoroute_stop(&ar);
		get_file(f.log, log, sizeof(log));
		if (dead) {
			CU_ASSERT_EQUAL(rc, -ENODEV);   /* no such TUN: went on */
			CU_ASSERT_PTR_NULL(strstr(log, "still running"));
			CU_ASSERT_PTR_NOT_NULL(strstr(log, "cleaned up routes left by a previous run"));
		} else {
			CU_ASSERT_EQUAL(rc, -EBUSY);
			CU_ASSERT_PTR_NOT_NULL(strstr(log, "still running"));
			kill(pid, SIGKILL);
		}
		waitpid(pid, NULL, 0);
		fixture_done(&f);
	}
}

/* A state file of format 2 naming @o, with one route. */
static void put_owned_file(const char *path, const struct zr_owner *o)
{
	struct zr_route_state s;

	memset(&s, 0, sizeof(s));
	s.owner = *o;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.10", &s.routes[0].dst) == 0);
	s.routes[0].prefix = 32;
	strcpy(s.routes[0].dev, "lo");
	s.count = 1;
	CU_ASSERT_EQUAL_FATAL(zr_route_state_write(path, &s), 0);
}

/* The state file's owner runs under another name (a ztun-ref installed
 * as "vpn", or started through a symbolic link of that name: its comm):
 * it is alive by its start time, so the start fails before the TUN is
 * touched (zr_autoroute_in_use()) and in step 1, and its file stays as
 * it is; once it is a zombie, it is dead. (Before the start time was
 * recorded, a run not named "ztun-ref" was taken for dead: its routes
 * were taken over while it ran.) */
static void test_renamed_owner(void)
{
	static struct zr_autoroute ar;
	struct zr_owner o;
	struct fixture f;
	char before[512], text[512], log[4096];
	pid_t pid;
	int saved, rc;

	fixture_init(&f);
	snprintf(f.cfg.tun_name, sizeof(f.cfg.tun_name), "%s", f.tun.ifname);
	pid = zt_test_child_named("vpn", false);
	CU_ASSERT_EQUAL_FATAL(zr_owner_of(pid, &o), 0);
	put_owned_file(f.path, &o);
	get_file(f.path, before, sizeof(before));
	saved = log_begin(&f);
	CU_ASSERT(zr_autoroute_in_use(&f.cfg));
	log_end(saved);
	rc = start_logged(&f, &ar);
	CU_ASSERT_EQUAL(rc, -EBUSY);
	zr_autoroute_stop(&ar);
	get_file(f.log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "still running"));
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, before);
	/* killed, not yet reaped: dead, its routes cleaned up */
	kill(pid, SIGKILL);
	CU_ASSERT_FATAL(waitid(P_PID, (id_t)pid, &(siginfo_t){ 0 },
			       WEXITED | WNOWAIT) == 0);
	saved = log_begin(&f);
	CU_ASSERT(!zr_autoroute_in_use(&f.cfg));
	log_end(saved);
	rc = start_logged(&f, &ar);
	CU_ASSERT_EQUAL(rc, -ENODEV);   /* no such TUN: went on */
	zr_autoroute_stop(&ar);
	get_file(f.log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "cleaned up routes left by a previous run"));
	waitpid(pid, NULL, 0);
	fixture_done(&f);
}

/* The state file's pid runs, named "ztun-ref", but started at another
 * time than the file says: the number was given to another process
 * since (after a reboot, with a --state-dir that survived it, or after
 * the pids wrapped). The owner is dead: its routes are cleaned up, and
 * the file this start writes names this process by its start time and
 * boot too. */
static void test_reused_pid(void)
{
	static struct zr_autoroute ar;
	struct zr_owner o, self;
	struct fixture f;
	char log[4096], want[128];
	pid_t pid;
	int saved, rc;

	fixture_init(&f);
	/* a proxy: its host route is added after the file is written */
	f.cfg.socks5.enabled = true;
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.77", &f.cfg.socks5.server.addr) == 0);
	pid = zt_test_child_named("ztun-ref", false);
	CU_ASSERT_EQUAL_FATAL(zr_owner_of(pid, &o), 0);
	o.start += 1000;
	put_owned_file(f.path, &o);
	CU_ASSERT_EQUAL_FATAL(zr_owner_self(&self), 0);
	fk_begin(f.path, NULL, NULL);
	saved = log_begin(&f);
	rc = zr_autoroute_start(&ar, &f.cfg, &f.tun);
	log_end(saved);
	CU_ASSERT_EQUAL(rc, -ENODEV);   /* no such TUN: went on */
	snprintf(want, sizeof(want), "pid %ld\nstart %llu\nboot %s\n",
		 self.pid, (unsigned long long)self.start, self.boot);
	CU_ASSERT(fk_added("192.0.2.77"));
	CU_ASSERT(fk_file_listed(want));
	fk_end();
	zr_autoroute_stop(&ar);
	get_file(f.log, log, sizeof(log));
	CU_ASSERT_PTR_NULL(strstr(log, "still running"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "cleaned up routes left by a previous run"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fixture_done(&f);
}

int zt_suite_autoroute(void)
{
	static const struct zt_test_case cases[] = {
		{ "newer state file", test_newer_state_file },
		{ "a proxy's host route there already", test_existing_proxy_route },
		{ "a kept proxy's host route", test_kept_proxy_route },
		{ "a kept run's routes and a moved proxy", test_kept_moved_proxy },
		{ "a proxy's host route added meanwhile",
		  test_proxy_route_added_meanwhile },
		{ "a zombie ztun-ref's state file", test_zombie_owner },
		{ "a ztun-ref named otherwise runs", test_renamed_owner },
		{ "a pid reused by a ztun-ref", test_reused_pid },
		{ "a moved proxy's host route there already",
		  test_moved_proxy_route_exists },
		{ "a moved proxy's host route look fails",
		  test_moved_proxy_route_look_fails },
		{ "a kill switch found, the plan fails: all kept",
		  test_kill_switch_kept_plan_fails },
		{ "a kill switch found, an add fails: found kept",
		  test_kill_switch_kept_add_fails },
		{ "a kill switch found, setup fails later: found kept",
		  test_kill_switch_kept_abort },
		{ 0 }
	};

	return zt_add_suite("autoroute", NULL, NULL, cases);
}
