/* SPDX-License-Identifier: MIT */
/*
 * ztun_ref.c - ztun-ref, the real-mode transparent proxy: a TUN device,
 * the ztun core, and real sockets.
 *
 * Theory of operation: parse the command line (config.c; usage errors exit
 * 2), resolve a proxy host given by name (before the TUN and the routes
 * exist; a SIGHUP looks it up again in a thread, proxy_lookup_start()),
 * create and configure the TUN through /dev/net/tun and rtnetlink (or
 * adopt --tun-fd as is), find the egress interface of direct traffic (-e,
 * or the default route's), with --auto-route add the routes into the TUN
 * (autoroute.c; SIGINT/SIGTERM are blocked from then on so that they end
 * the event loop instead of the process, and the routes always come out
 * again), seed the core's generator from getrandom(), build the router over the host (host.c) and run the event loop until
 * SIGINT/SIGTERM. Then print statistics, free the router (which closes its
 * upstreams through the host), the host, the auto-routes and the TUN - a device we created
 * is not persistent (with --kill-switch, not any more), so it disappears -
 * and exit 0. Setup failures exit 1
 * with one message; missing privilege says that root or CAP_NET_ADMIN is
 * needed. A setup that fails undoes itself, but leaves a device it found
 * in place (a kill switch left by a --kill-switch run that died) as it
 * found it: persistent, with the routes it found (close_failed(),
 * zr_autoroute_abort()). This file stays out of the host library;
 * docs/cli.md documents its behaviour and must stay in step with it.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

#include "real/autoroute.h"
#include "real/config.h"
#include "real/host.h"
#include "real/log.h"
#include "real/netlink.h"
#include "real/resolve.h"
#include "real/tun.h"
#include "ztun/rng.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static int privilege_error(const char *what, const char *name, int err)
{
	zr_err("%s TUN device '%s' needs root or CAP_NET_ADMIN (%s)", what,
	       name, strerror(-err));
	return EXIT_RUNTIME;
}

/* What the TUN takes from us whole, as the logs name it. */
static const char *offload_name(const struct zr_tun *tun)
{
	return tun->uso ? "tso+uso+csum" : tun->offload ? "tso+csum" :
	       tun->vnet_len ? "vnet only" : "off";
}

/* Close @tun after a start that failed: a device found in place (left by
 * a --kill-switch run that died) stays as found, persistent, with the
 * routes into it that drop what they take. */
static void close_failed(struct zr_tun *tun)
{
	char name[IF_NAMESIZE];

	memcpy(name, tun->ifname, sizeof(name));
	if (zr_tun_close_failed(tun))
		zr_warn("kill switch kept: %s stays, traffic routed into it is dropped until a run starts or `ip link del %s`",
			name, name);
}

/* Whether @a/@prefix is an address @c asks for on the TUN. */
static bool tun_addr_wanted(const struct zr_config *c,
			    const struct zr_nl_addr *a)
{
	return (zt_addr_eq(&a->addr, &c->tun_ip) && a->prefix == c->prefix) ||
	       (c->have_ip6 && zt_addr_eq(&a->addr, &c->tun_ip6) &&
		a->prefix == c->prefix6);
}

/* On a device found in place (left by a --kill-switch run that died):
 * remove the addresses a ztun-ref added (tagged, see zr_nl_addr_add())
 * that this run does not ask for, before adding its own (an IPv4 primary
 * removed after a new secondary of its subnet would take that one with
 * it). The routes into the device stay; only the old addresses'
 * connected routes go. Anyone else's address is never touched. */
static int drop_stale_addrs(const struct zr_config *c, unsigned idx,
			    const char *ifname)
{
	struct zr_nl_addr ours[16];
	char a[ZT_ADDR_STRLEN];
	int n = zr_nl_addr_ours(idx, ours, sizeof(ours) / sizeof(ours[0]));

	for (int i = 0; i < n; i++) {
		int err;

		if (tun_addr_wanted(c, &ours[i]))
			continue;
		err = zr_nl_addr_del(idx, &ours[i].addr, ours[i].prefix);
		if (err && err != -EADDRNOTAVAIL)
			return err;
		zr_info("TUN %s: removed %s/%u, added by a run that died and not asked for now",
			ifname, zt_addr_format(&ours[i].addr, a, sizeof(a)),
			ours[i].prefix);
	}
	return n < 0 ? n : 0;
}

/* Create or adopt the TUN; configure a created one. Return an exit code. */
static int setup_tun(const struct zr_config *c, struct zr_tun *tun)
{
	char a[ZT_ADDR_STRLEN];
	unsigned idx;
	int err;

	if (c->tun_fd >= 0) {
		err = zr_tun_adopt_fd(tun, c->tun_fd);
		if (err) {
			zr_err("--tun-fd %d: %s", c->tun_fd, strerror(-err));
			return EXIT_RUNTIME;
		}
		/* offloads only where its opener chose vnet headers */
		zr_info("using inherited TUN descriptor %d (%s), not configured, offload %s",
			c->tun_fd, tun->ifname[0] ? tun->ifname : "name unknown",
			offload_name(tun));
		return 0;
	}
	/* A live run's device, even one set down (no carrier to tell), is
	 * not attached to, nor its addresses removed (drop_stale_addrs()) */
	if (c->auto_route && zr_autoroute_in_use(c))
		return EXIT_RUNTIME;
	err = zr_tun_create(tun, c->tun_name,
			    (c->multi_queue ? ZR_TUN_MULTI_QUEUE : 0) |
			    (c->offload ? ZR_TUN_OFFLOAD : 0) |
			    (c->kill_switch ? ZR_TUN_PERSIST : 0));
	if (err == -EPERM || err == -EACCES)
		return privilege_error("creating", c->tun_name, err);
	if (err == -ENOENT) {
		zr_err("/dev/net/tun is missing (no TUN support in this kernel or container)");
		return EXIT_RUNTIME;
	}
	if (err == -EBUSY) {
		zr_err("TUN device '%s' is in use: up, with a reader attached (another ztun-ref?)",
		       c->tun_name);
		return EXIT_RUNTIME;
	}
	if (err) {
		zr_err("creating TUN device '%s': %s", c->tun_name, strerror(-err));
		return EXIT_RUNTIME;
	}
	idx = tun->index;
	err = tun->existed ? drop_stale_addrs(c, idx, tun->ifname) : 0;
	if (err)
		goto nl_fail;
	err = zr_nl_addr_add(idx, &c->tun_ip, c->prefix);
	if (err && err != -EEXIST)
		goto nl_fail;
	if (c->have_ip6) {
		err = zr_nl_addr_add(idx, &c->tun_ip6, c->prefix6);
		if (err && err != -EEXIST)
			goto nl_fail;
	}
	err = zr_nl_link_up(idx, c->mtu, c->txqueuelen);
	if (err)
		goto nl_fail;
	zr_info("TUN %s up: %s/%u, mtu %u, txqueuelen %u, offload %s", tun->ifname,
		zt_addr_format(&c->tun_ip, a, sizeof(a)), c->prefix, c->mtu, c->txqueuelen,
		offload_name(tun));
	if (c->have_ip6)
		zr_info("TUN %s: %s/%u", tun->ifname,
			zt_addr_format(&c->tun_ip6, a, sizeof(a)), c->prefix6);
	if (c->kill_switch)
		zr_info("kill switch: %s is persistent: should ztun-ref die, what is routed into it is dropped until the next run exits or `ip link del %s`",
			tun->ifname, tun->ifname);
	return 0;
nl_fail:
	if (err == -EPERM || err == -EACCES)
		privilege_error("configuring", c->tun_name, err);
	else
		zr_err("configuring TUN device '%s' (rtnetlink): %s",
		       c->tun_name, strerror(-err));
	close_failed(tun);  /* after the error: the way the log reads */
	return EXIT_RUNTIME;
}

/* -e, or the default route's interface. Return an exit code. */
static int setup_egress(struct zr_config *c, const struct zr_tun *tun)
{
	unsigned tun_idx = tun->index;
	int oif;

	if (c->egress[0]) {
		if (!if_nametoindex(c->egress)) {
			zr_err("--egress: interface '%s' does not exist", c->egress);
			return EXIT_RUNTIME;
		}
		if (tun_idx && if_nametoindex(c->egress) == tun_idx) {
			zr_err("--egress: '%s' is the TUN device itself", c->egress);
			return EXIT_RUNTIME;
		}
		zr_info("direct egress via %s", c->egress);
		return 0;
	}
	/* A lookup that fails is no answer: only a table without a
	 * default route runs unbound (a kernel without IPv6 has no IPv6
	 * table to ask). */
	oif = zr_nl_default_oif(ZT_AF_INET, tun_idx);
	if (oif == 0) {
		oif = zr_nl_default_oif(ZT_AF_INET6, tun_idx);
		if (oif == -EAFNOSUPPORT)
			oif = 0;
	}
	if (oif < 0) {
		zr_err("finding the default route's interface (rtnetlink): %s; give -e",
		       strerror(-oif));
		return EXIT_RUNTIME;
	}
	if (oif > 0 && !if_indextoname((unsigned)oif, c->egress)) {
		zr_err("the default route's interface (index %d): %s; give -e",
		       oif, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (oif > 0) {
		zr_info("direct egress via %s (the default route's)", c->egress);
		return 0;
	}
	c->egress[0] = 0;
	zr_warn("no default route and no -e: direct egress is not bound to an interface and may loop into the TUN");
	return 0;
}

/* Each TCP flow owns an upstream socket, each UDP flow at most one
 * (a client socket's share it): let the descriptor limit follow
 * --max-flows and --max-udp-flows as far as the hard limit allows, and
 * say when it cannot. */
static void raise_fd_limit(uint32_t max_flows, uint32_t max_udp_flows)
{
	struct rlimit rl;
	/* + ping sockets, the TUN, epoll, timerfd, signalfd, ... */
	rlim_t want = (rlim_t)max_flows + max_udp_flows + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			zr_warn("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return;
	}
	zr_info("descriptors: up to %llu (RLIMIT_NOFILE)",
		(unsigned long long)rl.rlim_cur);
	if (rl.rlim_cur < want)
		zr_warn("descriptor limit %llu is below --max-flows %u + --max-udp-flows %u: past it a new flow takes the descriptor of one idle --udp-evict-idle or --tcp-evict-idle, or is refused",
			(unsigned long long)rl.rlim_cur, max_flows, max_udp_flows);
}

/*
 * --fake-dns: route the fake pools and the resolver's addresses into the
 * TUN ztun-ref created (they go with the device when it is removed), and
 * say what it answers. An inherited --tun-fd is its parent's to route.
 * Return an exit code.
 */
static int setup_fake_dns(const struct zr_config *c, const struct zr_tun *tun)
{
	const struct zt_fakedns_config *fc = &c->fake_dns;
	struct zr_nl_route want[4];
	char a[ZT_ADDR_STRLEN], what[4 * (ZT_ADDR_STRLEN + 6)] = "";
	unsigned n = 0;

	if (!fc->enabled)
		return 0;
	for (unsigned i = 0; i < 2; i++) {
		const struct zt_cidr *pool = i ? &fc->pool6 : &fc->pool4;
		const struct zt_addr *srv = &fc->server[i];

		if (pool->addr.family)
			want[n++] = (struct zr_nl_route){ .dst = pool->addr,
							  .prefix = pool->len };
		if (srv->family && !(pool->addr.family &&
				     zt_cidr_contains(pool, srv)))
			want[n++] = (struct zr_nl_route){
				.dst = *srv, .prefix = (uint8_t)(zt_addr_len(srv) * 8) };
	}
	for (unsigned i = 0; i < n && c->tun_fd < 0; i++) {
		int err;

		want[i].oif = tun->index;
		err = zr_nl_route_add(&want[i]);
		if (err && err != -EEXIST) {
			zr_err("--fake-dns: routing %s/%u into %s: %s",
			       zt_addr_format(&want[i].dst, a, sizeof(a)),
			       want[i].prefix, tun->ifname, strerror(-err));
			return EXIT_RUNTIME;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		size_t len = strlen(what);

		snprintf(what + len, sizeof(what) - len, "%s%s/%u", i ? ", " : "",
			 zt_addr_format(&want[i].dst, a, sizeof(a)), want[i].prefix);
	}
	zr_info("fake DNS: answers at port 53 of the resolver's address, fake addresses for %u names; %s %s",
		fc->max_names, c->tun_fd < 0 ? "routed into the TUN:" :
		"the parent must route into the TUN:", what);
	return 0;
}

/* The signals ztun-ref acts on (SIGINT, SIGTERM, SIGUSR1, SIGHUP) wait
 * from before the TUN exists until the process exits: the event loop
 * reads them from its signalfd, and one that comes during setup or
 * teardown (say SIGUSR1 from a script polling the statistics while
 * SIGTERM's exit runs) stays pending instead of killing the process by
 * its default action between making the device, its routes or its
 * persistence and undoing them. */
static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* --auto-route: needs an egress for direct sockets. Return an exit code. */
static int setup_auto_route(const struct zr_config *c, const struct zr_tun *tun,
			    struct zr_autoroute *ar)
{
	if (!c->egress[0]) {
		zr_err("--auto-route: no egress interface (no default route and no -e): direct traffic would loop into the TUN");
		return EXIT_RUNTIME;
	}
	return zr_autoroute_start(ar, c, tun) ? EXIT_RUNTIME : 0;
}

/*
 * A proxy given by name (@host non-empty): resolved here, before the TUN
 * or any route of ours exists, so that the query takes the system's usual
 * way and not the TUN nobody reads yet; the address picked as resolve.h
 * says serves until a SIGHUP resolves the name again
 * (proxy_lookup_start()).
 * Return an exit code.
 */
static int resolve_proxy(const struct zr_config *c, const char *kind,
			 const char *host, struct zt_proxy_config *px)
{
	struct sockaddr_storage ss;
	uint16_t port = px->server.port;
	char a[ZT_ADDR_STRLEN], why[128];
	const char *bad;
	int err;

	if (!px->enabled || !host[0])
		return 0;
	err = zr_resolve_name(host, &ss);
	if (err) {
		zr_err("--proxy: cannot resolve the %s proxy's host '%s': %s",
		       kind, host, gai_strerror(err));
		/* the likely cause when our device is already there: a
		 * --kill-switch run died and its routes lead into it */
		if (c->tun_fd < 0 && if_nametoindex(c->tun_name))
			zr_err("--proxy: %s exists (left by a --kill-switch run?) and what is routed into it goes nowhere until ztun-ref runs: give the proxy's address, or remove the device (ip link del %s)",
			       c->tun_name, c->tun_name);
		return EXIT_RUNTIME;
	}
	zr_sockaddr_to_ep(&ss, &px->server);
	px->server.port = port;
	bad = zr_config_proxy_unusable(&px->server.addr);
	if (bad) {
		zr_err("--proxy: the %s proxy's host '%s' is at %s, %s: no connection to a proxy can go there",
		       kind, host, zt_addr_format(&px->server.addr, a, sizeof(a)),
		       bad);
		return EXIT_RUNTIME;
	}
	if (zr_config_proxy_loops(c, &px->server.addr, why, sizeof(why))) {
		zr_err("--proxy: the %s proxy's host '%s' is at %s, %s, routed into the TUN: the connections to the proxy would loop through it",
		       kind, host, zt_addr_format(&px->server.addr, a, sizeof(a)),
		       why);
		return EXIT_RUNTIME;
	}
	return 0;
}

static void log_proxy(const char *kind, const char *host,
		      const struct zt_proxy_config *px)
{
	char a[ZT_ADDR_STRLEN];

	if (!px->enabled)
		return;
	zt_addr_format(&px->server.addr, a, sizeof(a));
	zr_info("%s proxy %s%s%s%s%s:%u%s%s", kind, host, host[0] ? " (" : "",
		px->server.addr.family == ZT_AF_INET6 ? "[" : "", a,
		px->server.addr.family == ZT_AF_INET6 ? "]" : "",
		px->server.port, host[0] ? ")" : "",
		px->auth ? " (with credentials)" : "");
}

/* SIGHUP: the rules again from their flags and files; the router routes
 * through &cfg->rules, so new flows follow them and flows already open
 * keep the decision they were made with. A bad file keeps the rules. */
static void reload_rules(struct zr_config *cfg)
{
	if (zr_config_reload_rules(cfg) == 0)
		zr_info("SIGHUP: %u rules, default %s, udp %s; new flows follow them",
			cfg->rules.count, zt_route_decision_name(cfg->def),
			zt_route_decision_name(cfg->udp));
	else
		zr_err("SIGHUP: the rules in effect are kept");
}

/* What SIGHUP and --proxy-refresh act on besides the rules (main's
 * objects, borrowed), and the lookup of the proxies' names they start. */
struct hangup {
	struct zr_config *cfg;
	struct zr_host *host;
	struct zt_router *router;
	struct zr_autoroute *ar;
	const struct zr_tun *tun;
	struct zr_resolver resolver;
	int job_of[2];           /* SOCKS5, HTTP: the lookup's job for the
				  * proxy's name (one for both when they
				  * share it), -1 for none */
	const char *why;         /* what started it: "SIGHUP" or the flag */
	bool routine;            /* --proxy-refresh: no news logged at info */
	bool again;              /* a SIGHUP met this lookup running: the
				  * names may have changed since it began,
				  * so another follows it */
	bool failing[2];         /* SOCKS5, HTTP: the last refresh failed */
	/* --auto-route: old addresses of moved proxies whose host route
	 * waits for the streams still open to them (retire_check()) */
	struct zt_addr retiring[4];
	unsigned n_retiring;
	unsigned refresh_every;  /* --proxy-refresh, in ticks (0: off) */
	unsigned ticks;          /* since the last refresh */
};

/* The proxies a lookup serves, in the order of hangup.job_of. */
static const enum zt_route_decision proxy_kinds[2] = { ZT_ROUTE_SOCKS5,
							ZT_ROUTE_HTTP };

/* The proxy of @kind (SOCKS5 or HTTP) in @c, and its host name. */
static struct zt_proxy_config *proxy_of(struct zr_config *c,
					enum zt_route_decision kind,
					const char **host)
{
	*host = kind == ZT_ROUTE_SOCKS5 ? c->socks5_host : c->http_host;
	return kind == ZT_ROUTE_SOCKS5 ? &c->socks5 : &c->http;
}

/* Old proxy address @addr keeps its --auto-route host route until no
 * stream goes there (retire_check()); past the list's room, until exit. */
static void retire_later(struct hangup *hu, const struct zt_addr *addr)
{
	for (unsigned i = 0; i < hu->n_retiring; i++)
		if (zt_addr_eq(&hu->retiring[i], addr))
			return;
	if (hu->n_retiring < sizeof(hu->retiring) / sizeof(hu->retiring[0]))
		hu->retiring[hu->n_retiring++] = *addr;
}

/* The proxy of @kind's name gave @job: where the address changed, new
 * flows go to the new one (with --auto-route once it is routed around
 * the TUN); flows open keep theirs. A name that no longer resolves, or a
 * new address that cannot be routed, leaves the proxy where it was. A
 * routine refresh logs what did not change at debug level, and a name
 * that keeps failing once until it resolves again. */
static void proxy_moved(struct hangup *hu, enum zt_route_decision kind,
			const struct zr_resolve_job *job)
{
	const char *what = kind == ZT_ROUTE_SOCKS5 ? "SOCKS5" : "HTTP", *host, *bad;
	struct zt_proxy_config *px = proxy_of(hu->cfg, kind, &host);
	bool *failing = &hu->failing[kind == ZT_ROUTE_HTTP];
	char was[ZT_ADDR_STRLEN], now[ZT_ADDR_STRLEN], why[128];
	struct zt_endpoint to;

	zt_addr_format(&px->server.addr, was, sizeof(was));
	if (job->err) {
		zr_log(hu->routine && *failing ? ZR_LOG_DEBUG : ZR_LOG_WARN,
		       "%s: cannot resolve the %s proxy's host '%s': %s; it stays at %s",
		       hu->why, what, host, gai_strerror(job->err), was);
		*failing = true;
		return;
	}
	*failing = false;
	zr_sockaddr_to_ep(&job->addr, &to);
	to.port = px->server.port;
	zt_addr_format(&to.addr, now, sizeof(now));
	if (zt_addr_eq(&to.addr, &px->server.addr)) {
		zr_log(hu->routine ? ZR_LOG_DEBUG : ZR_LOG_INFO,
		       "%s: %s proxy %s is still at %s", hu->why, what, host, now);
		return;
	}
	bad = zr_config_proxy_unusable(&to.addr);
	if (bad) {
		zr_err("%s: %s proxy %s stays at %s, not %s: that is %s",
		       hu->why, what, host, was, now, bad);
		return;
	}
	/* --auto-route pins even such an address around the TUN (by the
	 * egress's route); without it the connections would loop */
	if (!hu->ar->active &&
	    zr_config_proxy_loops(hu->cfg, &to.addr, why, sizeof(why))) {
		zr_err("%s: %s proxy %s stays at %s, not %s: that is %s, routed into the TUN (a loop)",
		       hu->why, what, host, was, now, why);
		return;
	}
	if (hu->ar->active &&
	    zr_autoroute_proxy_moved(hu->ar, &to.addr, hu->tun,
				     hu->cfg->egress) < 0) {
		zr_err("%s: %s proxy %s stays at %s, not %s", hu->why, what,
		       host, was, now);
		return;
	}
	if (zt_router_set_proxy_server(hu->router, kind, &to) < 0)
		return; /* only for a proxy not configured */
	if (hu->ar->active)
		retire_later(hu, &px->server.addr);
	px->server = to;
	zr_info("%s: %s proxy %s is now at %s (was %s); new flows go there",
		hu->why, what, host, now, was);
}

/* Whether a proxy of @c is at @addr now. */
static bool proxy_at(const struct zr_config *c, const struct zt_addr *addr)
{
	return (c->socks5.enabled && zt_addr_eq(&c->socks5.server.addr, addr)) ||
	       (c->http.enabled && zt_addr_eq(&c->http.server.addr, addr));
}

/* Each old proxy address that no proxy is at again and no stream goes
 * to any more gives its --auto-route host route up (from then on it is
 * routed into the TUN as any other); one a proxy is at again is no
 * longer old. Called after each lookup and every tick. */
static void retire_check(struct hangup *hu)
{
	for (unsigned i = 0; i < hu->n_retiring;) {
		const struct zt_addr *a = &hu->retiring[i];

		if (!proxy_at(hu->cfg, a)) {
			if (zr_host_streams_to(hu->host, a)) {
				i++;
				continue;
			}
			zr_autoroute_proxy_retire(hu->ar, a, hu->tun);
		}
		hu->retiring[i] = hu->retiring[--hu->n_retiring];
	}
}

static void proxy_lookup_start(struct hangup *hu, const char *why,
			       bool routine);

/* The lookup's descriptor is readable: its answers applied, and the
 * lookup a SIGHUP asked for meanwhile started. */
static void proxy_lookup_done(void *user)
{
	struct hangup *hu = user;
	struct zr_resolve_job job[ZR_RESOLVE_MAX];
	unsigned n;

	zr_host_watch(hu->host, -1, NULL, NULL);
	n = zr_resolver_take(&hu->resolver, job);
	for (unsigned i = 0; i < 2; i++)
		if (hu->job_of[i] >= 0 && (unsigned)hu->job_of[i] < n)
			proxy_moved(hu, proxy_kinds[i], &job[hu->job_of[i]]);
	retire_check(hu);
	if (hu->again) {
		hu->again = false;
		proxy_lookup_start(hu, "SIGHUP", false);
	}
}

/* The proxies given by name looked up again (@why: what asked; a
 * @routine one logs no news at info), in a thread (the query may have to
 * cross the TUN this loop serves); one lookup at a time, and a SIGHUP
 * that meets one running has another follow it (proxy_lookup_done()). */
static void proxy_lookup_start(struct hangup *hu, const char *why,
			       bool routine)
{
	const char *names[ZR_RESOLVE_MAX] = { NULL }, *host;
	int job_of[2] = { -1, -1 };
	unsigned n = 0;
	int err;

	for (unsigned i = 0; i < 2; i++) {
		if (!proxy_of(hu->cfg, proxy_kinds[i], &host)->enabled ||
		    !host[0])
			continue;
		if (n && strcmp(names[n - 1], host) == 0) {
			job_of[i] = (int)n - 1; /* one query for the name */
			continue;
		}
		job_of[i] = (int)n;
		names[n++] = host;
	}
	if (!n)
		return;
	err = zr_resolver_start(&hu->resolver, names, n);
	if (err == -EBUSY) {
		hu->again = hu->again || !routine;
		zr_log(routine ? ZR_LOG_DEBUG : ZR_LOG_INFO,
		       "%s: the proxies' names are still being looked up%s",
		       why, routine ? "" : "; once more when that ends");
		return;
	}
	if (!err)
		err = zr_host_watch(hu->host, zr_resolver_fd(&hu->resolver),
				    proxy_lookup_done, hu);
	if (err) {
		zr_err("%s: cannot look the proxies' names up: %s", why,
		       strerror(-err));
		zr_resolver_free(&hu->resolver);
		return;
	}
	memcpy(hu->job_of, job_of, sizeof(job_of));
	hu->why = why;
	hu->routine = routine;
	zr_log(routine ? ZR_LOG_DEBUG : ZR_LOG_INFO,
	       "%s: looking the proxies' names up again", why);
}

static void on_hangup(void *user)
{
	struct hangup *hu = user;

	reload_rules(hu->cfg);
	proxy_lookup_start(hu, "SIGHUP", false);
}

/* The host calls it every tick: old proxy addresses checked, and every
 * refresh_every ticks the --proxy-refresh lookup. */
static void on_tick(void *user)
{
	struct hangup *hu = user;

	retire_check(hu);
	if (hu->refresh_every && ++hu->ticks >= hu->refresh_every) {
		hu->ticks = 0;
		proxy_lookup_start(hu, "--proxy-refresh", true);
	}
}

int main(int argc, char **argv)
{
	struct zr_config cfg;
	struct zr_host_config hcfg;
	struct zt_router_config rcfg;
	struct zr_tun tun;
	struct zr_autoroute autoroute = { .active = false };
	struct zt_tun_driver drv;
	struct zr_host *host = NULL;
	struct zt_router *router = NULL;
	struct hangup hangup = { .cfg = NULL };
	struct zt_rng rng;
	uint64_t seed;
	bool ran = false;  /* the event loop ran: the start succeeded */
	int rc;

	/* From the start, not from the event loop's (host.c): a log line
	 * into a stderr nobody reads any more must not kill the process
	 * between making the device or its routes and undoing them. */
	signal(SIGPIPE, SIG_IGN);
	rc = zr_config_parse(&cfg, argc, argv);
	if (rc < 0)
		return EXIT_USAGE;
	if (rc == ZR_PARSE_EXIT)
		return 0;
	zr_log_setup("ztun-ref", cfg.debug ? ZR_LOG_DEBUG : ZR_LOG_INFO);
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		zr_err("getrandom: %s", strerror(errno));
		zr_config_free(&cfg);
		return EXIT_RUNTIME;
	}
	zt_rng_seed(&rng, seed);
	raise_fd_limit(cfg.max_flows, cfg.max_udp_flows);
	rc = resolve_proxy(&cfg, "SOCKS5", cfg.socks5_host, &cfg.socks5);
	if (!rc)
		rc = resolve_proxy(&cfg, "HTTP", cfg.http_host, &cfg.http);
	if (rc) {
		zr_config_free(&cfg);
		return rc;
	}
	block_signals();
	rc = setup_tun(&cfg, &tun);
	if (rc) {
		zr_config_free(&cfg);
		return rc;
	}
	rc = setup_egress(&cfg, &tun);
	if (rc)
		goto out;
	if (cfg.auto_route) {
		rc = setup_auto_route(&cfg, &tun, &autoroute);
		if (rc)
			goto out;
	}
	rc = setup_fake_dns(&cfg, &tun);
	if (rc)
		goto out;
	memset(&hcfg, 0, sizeof(hcfg));
	memcpy(hcfg.egress, cfg.egress, sizeof(hcfg.egress));
	hcfg.mark = cfg.mark;
	hcfg.use_mark = cfg.use_mark;
	hcfg.busy_poll_ns = (uint64_t)cfg.busy_poll_us * 1000u;
	hcfg.udp_rcvbuf = cfg.udp_rcvbuf;
	hcfg.dns_over_tcp = cfg.dns_over_tcp;
	hcfg.dns_tcp_fallback = !cfg.no_dns_tcp_fallback;
	hcfg.stats_file = cfg.stats_file;
	hcfg.stats_interval_ns = (uint64_t)cfg.stats_interval_s * 1000000000u;
	hangup.cfg = &cfg;
	hangup.ar = &autoroute;
	hangup.tun = &tun;
	hcfg.on_hangup = on_hangup;
	hcfg.hangup_user = &hangup;
	/* a tick a second where a moved proxy's old route may wait for its
	 * flows (--auto-route, a proxy given by name); else one per refresh */
	hcfg.on_tick = on_tick;
	hcfg.tick_user = &hangup;
	if (cfg.auto_route && (cfg.socks5_host[0] || cfg.http_host[0])) {
		hcfg.tick_interval_ns = 1000000000u;
		hangup.refresh_every = cfg.proxy_refresh_s;
	} else if (cfg.proxy_refresh_s) {
		hcfg.tick_interval_ns = (uint64_t)cfg.proxy_refresh_s * 1000000000u;
		hangup.refresh_every = 1;
	}
	drv = zr_tun_driver(&tun);
	host = zr_host_new(&hcfg, &drv, tun.fd);
	if (!host) {
		zr_err("event loop: %s", strerror(errno));
		rc = EXIT_RUNTIME;
		goto out;
	}
	zt_router_config_default(&rcfg);
	rcfg.stack.mtu = (uint16_t)cfg.mtu;
	rcfg.stack.max_tcp_flows = cfg.max_flows;
	rcfg.stack.max_udp_flows = cfg.max_udp_flows;
	if (cfg.connect_timeout_s)
		rcfg.stack.connect_timeout = (uint64_t)cfg.connect_timeout_s * ZT_SEC;
	if (cfg.tcp_idle_s)
		rcfg.stack.tcp_idle_timeout = (uint64_t)cfg.tcp_idle_s * ZT_SEC;
	if (cfg.upstream_keepalive_set) {
		/* four probes a quarter of the idle apart: a dead upstream
		 * is found 2 * SEC after the client's first probe, as the
		 * default does in 2 minutes (router.h) */
		uint32_t sec = cfg.upstream_keepalive_s;

		rcfg.upstream_keepalive.idle = (uint64_t)sec * ZT_SEC;
		rcfg.upstream_keepalive.interval =
			(uint64_t)(sec >= 4 ? sec / 4 : 1) * ZT_SEC;
		rcfg.upstream_keepalive.count = ZT_ROUTER_KEEPALIVE_COUNT;
	}
	if (cfg.tcp_evict_set)
		rcfg.stack.tcp_evict_idle = (uint64_t)cfg.tcp_evict_s * ZT_SEC;
	if (cfg.udp_evict_set)
		rcfg.stack.udp_evict_idle = (uint64_t)cfg.udp_evict_s * ZT_SEC;
	if (cfg.udp_idle_s)
		rcfg.stack.udp_idle_timeout = (uint64_t)cfg.udp_idle_s * ZT_SEC;
	if (cfg.udp_stream_s)
		rcfg.stack.udp_stream_timeout = (uint64_t)cfg.udp_stream_s * ZT_SEC;
	if (tun.vnet_len) {
		/* The kernel cuts our TCP segments: send up to 64 KiB each. */
		rcfg.tun_output_gso = zr_host_tun_output_gso;
		rcfg.stack.tcp.tso_segs = ZT_TCP_TSO_SEGS;
	}
	if (cfg.tcp_buffer)
		rcfg.stack.tcp.rx_buf = rcfg.stack.tcp.tx_buf = cfg.tcp_buffer;
	/* the NAT table and the ring budget from the caps and rings */
	zt_router_config_fit_flows(&rcfg);
	rcfg.route = zt_rules_route;
	rcfg.route_user = &cfg.rules;
	rcfg.socks5 = cfg.socks5;
	rcfg.http = cfg.http;
	rcfg.early_synack = cfg.early_synack;
	rcfg.udp_full_cone = cfg.udp_full_cone;
	rcfg.dns_over_tcp = cfg.dns_over_tcp;
	rcfg.dns_tcp_fallback = !cfg.no_dns_tcp_fallback;
	rcfg.fake_dns = cfg.fake_dns;
	router = zt_router_new(&rcfg, zr_host_tun_output, &zr_host_upstream_ops,
			       host, &rng);
	if (!router) {
		zr_err("cannot create the router (no memory or bad configuration)");
		rc = EXIT_RUNTIME;
		goto out;
	}
	zr_host_set_router(host, router);
	if (cfg.auto_route) {
		/* set up: only now do the routes taken over from a dead
		 * run and not planned again go (a failed start keeps them) */
		zr_autoroute_commit(&autoroute);
		zr_autoroute_dns_check(&tun);
	}
	hangup.host = host;
	hangup.router = router;
	log_proxy("SOCKS5", cfg.socks5_host, &cfg.socks5);
	log_proxy("HTTP", cfg.http_host, &cfg.http);
	zr_info("tcp: up to %u flows, rings of %u + %u bytes each (%llu MiB at most, taken as data waits)",
		cfg.max_flows, rcfg.stack.tcp.rx_buf, rcfg.stack.tcp.tx_buf,
		(unsigned long long)(rcfg.stack.mem_budget >> 20));
	zr_info("%u rules, default %s, udp %s; running", cfg.rules.count,
		zt_route_decision_name(cfg.def), zt_route_decision_name(cfg.udp));
	ran = true;
	rc = zr_host_run(host) ? EXIT_RUNTIME : 0;
	zr_host_print_stats(host, "exit");
	zr_host_write_stats(host);
out:
	zt_router_free(router);
	zr_host_free(host);
	zr_resolver_free(&hangup.resolver); /* a lookup still running ends alone */
	/* an exit lifts the kill switch; a failed start leaves one it
	 * found as it was (autoroute.h, 3c) */
	if (ran) {
		zr_autoroute_stop(&autoroute);
		zr_tun_linux_ops.close(&tun);
	} else {
		zr_autoroute_abort(&autoroute);
		close_failed(&tun);
	}
	zr_config_free(&cfg);
	return rc;
}
