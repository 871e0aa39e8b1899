/* SPDX-License-Identifier: MIT */
/*
 * autoroute.c - ztun-ref --auto-route (the steps are described in
 * autoroute.h): stale state cleanup, the plan, the state file, adding the
 * routes and removing them again. Every route change goes through
 * rtnetlink (netlink.c); the file format lives in routestate.c.
 */
#include "real/autoroute.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/rtnetlink.h>

#include "real/log.h"
#include "real/netlink.h"
#include "real/owner.h"
#include "real/readfile.h"
#include "real/resolvconf.h"

/* Whether @old, the state file @path, names a run that still runs
 * (owner.h: its start time and boot, whatever its name): then logged,
 * as the reason the start stops. */
static bool still_running(const char *path, const struct zr_route_state *old)
{
	if (!zr_owner_alive(&old->owner))
		return false;
	zr_err("--auto-route: %s belongs to ztun-ref pid %ld, which is still running: its TUN and routes are in use",
	       path, old->owner.pid);
	return true;
}

/* @r of the state file as a netlink route; -ENODEV when its device is
 * gone (and with it every route through it). */
static int to_nl(const struct zr_route *r, struct zr_nl_route *out)
{
	memset(out, 0, sizeof(*out));
	out->dst = r->dst;
	out->prefix = r->prefix;
	out->has_gateway = r->has_gateway;
	out->gateway = r->gateway;
	out->oif = if_nametoindex(r->dev);
	return out->oif ? 0 : -ENODEV;
}

/* Delete @r; a route that is already gone is not an error. */
static int route_del(const struct zr_route *r)
{
	struct zr_nl_route nr;
	int err = to_nl(r, &nr);

	if (!err)
		err = zr_nl_route_del(&nr);
	if (err == -ESRCH || err == -ENOENT || err == -ENODEV)
		return 1;  /* not there */
	return err;
}

/* Step 1: the routes of a previous run's state file, if any: deleted, or
 * all of them kept in @kept when @tun outlived that run (persistent).
 * The file is removed only when none of its routes is left: otherwise it
 * stays (@kept->owner.pid set, @kept listing those still there) until step 3
 * replaces it with a file that lists them too (or a failed start removes
 * them, abandon_kept(), or keeps them, keep_found()), so that at any
 * moment, SIGKILL included, a file lists every route of ours. */
static int clean_stale(const char *path, const struct zr_tun *tun,
		       struct zr_route_state *kept)
{
	struct zr_route_state old;
	char text[ZR_ROUTE_TEXT];
	unsigned line, removed = 0;
	int err;

	err = zr_route_state_read(path, &old, &line);
	if (err == -ENOENT)
		return 0;
	if (err == -EINVAL || err == -E2BIG || err == -EFBIG) {
		zr_warn("%s is damaged (line %u: %s); removed without cleaning up (routes of ztun-ref show as 'proto %d' in `ip route`)",
			path, line, strerror(-err), ZR_RTPROT_ZTUN);
		unlink(path);
		return 0;
	}
	if (err == -EPROTONOSUPPORT) {
		/* a newer ztun-ref's (then a downgrade): its routes may be
		 * of kinds this version cannot name, so none is touched */
		zr_err("--auto-route: %s is of format %u, newer than this ztun-ref's (%d): left as it is, routes and file; stop the ztun-ref that wrote it, or run a newer one, or delete its routes ('proto %d' in `ip route`) and the file by hand",
		       path, old.version, ZR_ROUTE_STATE_VERSION, ZR_RTPROT_ZTUN);
		return err;
	}
	if (err == -ENXIO) {
		zr_err("--auto-route: %s is not a regular file (a FIFO, a device, a directory?); not read", path);
		return err;
	}
	if (err) {
		zr_err("--auto-route: reading %s: %s", path, strerror(-err));
		return err;
	}
	if (still_running(path, &old))
		return -EBUSY;
	if (tun->existed) {
		/* Its routes into the TUN are the kill switch, and the proxy's
		 * host route cannot be asked for anew while they hold: all
		 * stay, and step 3 takes over those it plans again. */
		*kept = old;
		zr_warn("%s outlived ztun-ref pid %ld (--kill-switch): taking over its routes",
			tun->ifname, old.owner.pid);
		return 0;
	}
	for (unsigned i = 0; i < old.count; i++) {
		err = route_del(&old.routes[i]);
		if (err == 0)
			removed++;
		if (err >= 0)
			continue;
		zr_warn("removing route %s of a previous run: %s",
			zr_route_text(&old.routes[i], text, sizeof(text)),
			strerror(-err));
		kept->routes[kept->count++] = old.routes[i];
		kept->owner = old.owner;
	}
	/* with routes still there, the file stays: it lists them */
	if (!kept->count && unlink(path) < 0 && errno != ENOENT) {
		zr_err("--auto-route: removing %s: %s", path, strerror(errno));
		return -errno;
	}
	zr_warn("cleaned up routes left by a previous run (pid %ld): %u of %u still there and removed",
		old.owner.pid, removed, old.count);
	return 0;
}

/* Where @r is among the first @n routes of @s, or -1. */
static int route_index(const struct zr_route_state *s, unsigned n,
		       const struct zr_route *r)
{
	for (unsigned i = 0; i < n; i++)
		if (s->routes[i].prefix == r->prefix &&
		    zt_addr_eq(&s->routes[i].dst, &r->dst) &&
		    s->routes[i].has_gateway == r->has_gateway &&
		    (!r->has_gateway ||
		     zt_addr_eq(&s->routes[i].gateway, &r->gateway)) &&
		    !strcmp(s->routes[i].dev, r->dev))
			return (int)i;
	return -1;
}

/* Whether @r is one of the routes step 1 left in place. */
static bool was_kept(const struct zr_route_state *kept, const struct zr_route *r)
{
	return route_index(kept, kept->count, r) >= 0;
}

/* Step 3, before the state file is written: of the routes kept in step 1,
 * those planned again (among the first @planned of @ar->state) are ours
 * from now on, so that stop removes them even before the loop that adds
 * the plan gets to them; the others (a flag or a proxy changed since) are
 * listed after the plan, ours too, and stay until the whole start
 * succeeded (zr_autoroute_commit()): one that fails before then leaves a
 * kill switch as it found it (keep_found()). Return: 0 or -E2BIG (no room
 * for one: logged). */
static int take_over(struct zr_autoroute *ar, unsigned planned)
{
	char text[ZR_ROUTE_TEXT];

	for (unsigned i = 0; i < ar->kept.count; i++) {
		const struct zr_route *k = &ar->kept.routes[i];
		int at = route_index(&ar->state, planned, k);

		if (at >= 0) {
			ar->ours[at] = true;
			continue;
		}
		if (ar->state.count == ZR_ROUTE_STATE_MAX) {
			zr_err("--auto-route: no room in the state file for %s (%d routes)",
			       zr_route_text(k, text, sizeof(text)),
			       ZR_ROUTE_STATE_MAX);
			return -E2BIG;
		}
		ar->ours[ar->state.count] = true;
		ar->state.routes[ar->state.count++] = *k;
	}
	return 0;
}

/* A start that fails before its own state file is in place, on a TUN it
 * created: the routes kept in step 1 (those a previous run's clean-up
 * could not remove) go, in reverse order, then the old file that lists
 * them. One that cannot be removed keeps the file, for the next start to
 * clean up. (On a TUN found in place: keep_found().) */
static void abandon_kept(struct zr_autoroute *ar)
{
	char text[ZR_ROUTE_TEXT];
	bool all = true;

	if (!ar->kept.owner.pid)
		return;  /* no old file left */
	for (unsigned i = ar->kept.count; i-- > 0;) {
		int err = route_del(&ar->kept.routes[i]);

		if (err < 0) {
			all = false;
			zr_warn("--auto-route: removing route %s of pid %ld: %s",
				zr_route_text(&ar->kept.routes[i], text, sizeof(text)),
				ar->kept.owner.pid, strerror(-err));
		}
	}
	if (!all)
		zr_warn("--auto-route: %s stays: it lists routes still there, for the next start to remove",
			ar->path);
	else if (unlink(ar->path) < 0 && errno != ENOENT)
		zr_warn("--auto-route: removing %s: %s", ar->path, strerror(errno));
	else
		zr_info("auto-route: removed the %u routes of pid %ld, and %s",
			ar->kept.count, ar->kept.owner.pid, ar->path);
	memset(&ar->kept, 0, sizeof(ar->kept));
}

/* A start that fails on a TUN it found in place (persistent: a
 * --kill-switch run's, dead): the kill switch stays as it was found. The
 * routes of step 1 stay and stay listed, so that the next start takes
 * them over again; those this start added go (a proxy's new host route
 * would let its address around the TUN later), in reverse order. Before
 * the new file was written the old one still lists what was found, and
 * nothing was added; after, the file is rewritten to list what is left,
 * under the old pid (removed when nothing is: a TUN without a state
 * file). The routes deleted first, the file after: at any moment it
 * lists every route of ours. */
static void keep_found(struct zr_autoroute *ar)
{
	char text[ZR_ROUTE_TEXT];
	struct zr_route_state left;
	unsigned removed = 0;
	int err;

	if (!ar->active) {
		if (ar->kept.owner.pid)
			zr_info("auto-route: the %u routes of pid %ld stay, listed in %s",
				ar->kept.count, ar->kept.owner.pid, ar->path);
		memset(&ar->kept, 0, sizeof(ar->kept));
		return;
	}
	for (unsigned i = ar->state.count; i-- > 0;) {
		const struct zr_route *r = &ar->state.routes[i];

		if (!ar->ours[i] || was_kept(&ar->kept, r))
			continue;
		err = route_del(r);
		if (err < 0) {
			zr_warn("auto-route: removing %s: %s; it stays listed in %s",
				zr_route_text(r, text, sizeof(text)),
				strerror(-err), ar->path);
			continue;
		}
		ar->ours[i] = false;
		removed++;
	}
	memset(&left, 0, sizeof(left));
	left.owner = ar->kept.owner.pid ? ar->kept.owner : ar->state.owner;
	for (unsigned i = 0; i < ar->state.count; i++)
		if (ar->ours[i])
			left.routes[left.count++] = ar->state.routes[i];
	if (!left.count)
		err = unlink(ar->path) < 0 && errno != ENOENT ? -errno : 0;
	else
		err = zr_route_state_write(ar->path, &left);
	if (err)
		zr_warn("auto-route: %s %s: %s; it lists routes that are gone",
			left.count ? "rewriting" : "removing", ar->path,
			strerror(-err));
	zr_info("auto-route: the start failed: removed the %u routes it added, kept the %u found%s%s",
		removed, left.count, left.count ? ", listed in " : "",
		left.count ? ar->path : "");
	memset(ar->ours, 0, sizeof(ar->ours));
	memset(&ar->kept, 0, sizeof(ar->kept));
	ar->active = false;
}

/**
 * zr_autoroute_abort() - undo a start that failed (in zr_autoroute_start()
 * or after it, before the run): on a TUN found in place, keep_found();
 * otherwise the routes kept in step 1 and those added go, then the state
 * file (abandon_kept(), zr_autoroute_stop()). Safe to call twice.
 * @ar: the auto-route state
 */
void zr_autoroute_abort(struct zr_autoroute *ar)
{
	if (ar->found)
		keep_found(ar);
	else if (ar->active)
		zr_autoroute_stop(ar);
	else
		abandon_kept(ar);
}

/* Drop route @i of @ar's list (with its ours[] mark), keeping the order. */
static void state_remove(struct zr_autoroute *ar, unsigned i)
{
	for (unsigned j = i; j + 1 < ar->state.count; j++) {
		ar->state.routes[j] = ar->state.routes[j + 1];
		ar->ours[j] = ar->ours[j + 1];
	}
	ar->state.count--;
	ar->ours[ar->state.count] = false;
}

/* A route of @ar's list that turned out to exist already (someone else
 * added it first: -EEXIST) is not ours: off the list and the file, so
 * that no later start deletes it; @i its index. */
static void drop_not_ours(struct zr_autoroute *ar, unsigned i)
{
	char text[ZR_ROUTE_TEXT];
	int err;

	zr_route_text(&ar->state.routes[i], text, sizeof(text));
	state_remove(ar, i);
	err = zr_route_state_write(ar->path, &ar->state);
	if (err)
		zr_warn("auto-route: the state file %s still lists %s, not ours: %s",
			ar->path, text, strerror(-err));
}

static int plan_add(struct zr_route_state *s, const struct zt_addr *dst,
		    uint8_t prefix, const struct zt_addr *gw, const char *dev)
{
	struct zr_route *r;

	if (s->count == ZR_ROUTE_STATE_MAX)
		return -E2BIG;
	r = &s->routes[s->count++];
	memset(r, 0, sizeof(*r));
	r->dst = *dst;
	r->prefix = prefix;
	if (gw) {
		r->has_gateway = true;
		r->gateway = *gw;
	}
	snprintf(r->dev, sizeof(r->dev), "%s", dev);
	return 0;
}

/* Step 2, first half: the host route that keeps @proxy out of the TUN;
 * where the kernel's route to it leads into the TUN (after start: the
 * split routes take it), the route it has out of interface @egress
 * (0: none: -ELOOP). @covered: the split routes take @proxy's family
 * into the TUN, so that a proxy without a route now would loop there.
 * @kept: step 1's routes (NULL: none); a host route to @proxy there
 * already that is not one of them is not planned (someone else's). */
static int plan_exclusion(struct zr_route_state *s, const struct zt_addr *proxy,
			  const struct zr_tun *tun, unsigned egress,
			  bool covered, const struct zr_route_state *kept)
{
	struct zr_nl_route now;
	struct zr_route r;
	char a[ZT_ADDR_STRLEN], dev[IF_NAMESIZE], text[ZR_ROUTE_TEXT];
	uint8_t type;
	bool into_tun;
	int err;

	zt_addr_format(proxy, a, sizeof(a));
	for (unsigned i = 0; i < s->count; i++)
		if (zt_addr_eq(&s->routes[i].dst, proxy))
			return 0;  /* the same address for SOCKS5 and HTTP */
	err = zr_nl_route_get(proxy, 0, &now, &type);
	into_tun = !err && type == RTN_UNICAST && now.oif == tun->index;
	if (into_tun && egress)
		err = zr_nl_route_get(proxy, egress, &now, &type);
	if (err && (covered || into_tun)) {
		/* nothing to pin, and the split routes would take the
		 * proxy connection into the TUN: ztun-ref would proxy its
		 * own connection to the proxy, and that one again, ... */
		zr_err("--auto-route: no route to proxy %s now (%s): the routes into %s would take its connection there, a loop",
		       a, strerror(-err), tun->ifname);
		return -ELOOP;
	}
	if (err) {
		zr_warn("--auto-route: no route to proxy %s now (%s): not excluded from the TUN",
			a, strerror(-err));
		return 0;
	}
	if (type == RTN_LOCAL) {
		zr_debug("--auto-route: proxy %s is a local address: no exclusion needed", a);
		return 0;
	}
	if (type != RTN_UNICAST || !now.oif) {
		zr_warn("--auto-route: the route to proxy %s is not a unicast route through a device (type %u): not excluded",
			a, type);
		return 0;
	}
	if (now.oif == tun->index) {
		zr_err("--auto-route: proxy %s is routed into %s itself; its connection would loop",
		       a, tun->ifname);
		return -ELOOP;
	}
	if (!if_indextoname(now.oif, dev)) {
		zr_warn("--auto-route: proxy %s: interface %u has no name: not excluded",
			a, now.oif);
		return 0;
	}
	err = plan_add(s, proxy, (uint8_t)(zt_addr_len(proxy) * 8),
		       now.has_gateway ? &now.gateway : NULL, dev);
	if (err)
		return err;
	r = s->routes[s->count - 1];
	if (kept && was_kept(kept, &r))
		return 0;  /* ours, from the run we take over from */
	/* A host route there already is someone else's (another ztun-ref's
	 * has protocol 122 too): never listed, so that no start after a
	 * SIGKILL of ours deletes it; it pins the proxy as it is. */
	err = zr_nl_host_route_exists(proxy);
	if (err == 0)
		return 0;
	/* there already, or not known: not planned (a failure leaves @s
	 * as it was; its route kept would pass for the pin later) */
	s->count--;
	if (err < 0) {
		zr_err("--auto-route: looking for a host route to proxy %s: %s",
		       a, strerror(-err));
		return err;
	}
	zr_info("auto-route: %s exists already; left as it is",
		zr_route_text(&r, text, sizeof(text)));
	return 0;
}

/* Whether the split routes plan() adds take @a's family into the TUN. */
static bool split_covers(const struct zr_config *c, const struct zt_addr *a)
{
	return a->family == ZT_AF_INET || c->have_ip6 || c->kill_switch;
}

/* Step 2: the exclusions, then the split routes; @kept: step 1's. */
static int plan(struct zr_route_state *s, const struct zr_config *c,
		const struct zr_tun *tun, const struct zr_route_state *kept)
{
	static const uint8_t v4_lo[4] = { 0 }, v4_hi[4] = { 128 };
	static const uint8_t v6_lo[16] = { 0 }, v6_hi[16] = { 0x80 };
	/* a killed --kill-switch run's split routes may still take a proxy
	 * (one that moved since) into the TUN: then ask the egress's
	 * route, as for a move on SIGHUP */
	unsigned egress = c->egress[0] ? if_nametoindex(c->egress) : 0;
	struct zt_addr a;
	int err = 0;

	memset(s, 0, sizeof(*s));
	err = zr_owner_self(&s->owner);
	if (err)
		zr_warn("--auto-route: this process's start time or boot id (/proc): %s; the state file names it by its pid alone (format 1), as an older ztun-ref did",
			strerror(-err));
	err = 0;
	if (c->socks5.enabled)
		err = plan_exclusion(s, &c->socks5.server.addr, tun, egress,
				     split_covers(c, &c->socks5.server.addr), kept);
	if (!err && c->http.enabled)
		err = plan_exclusion(s, &c->http.server.addr, tun, egress,
				     split_covers(c, &c->http.server.addr), kept);
	if (err)
		return err;
	a = zt_addr_v4(v4_lo);
	err = plan_add(s, &a, 1, NULL, tun->ifname);
	a = zt_addr_v4(v4_hi);
	err = err ? err : plan_add(s, &a, 1, NULL, tun->ifname);
	if (c->have_ip6 || c->kill_switch) {
		a = zt_addr_v6(v6_lo);
		err = err ? err : plan_add(s, &a, 1, NULL, tun->ifname);
		a = zt_addr_v6(v6_hi);
		err = err ? err : plan_add(s, &a, 1, NULL, tun->ifname);
	}
	return err;
}

/**
 * zr_autoroute_commit() - step 3b: the start succeeded. The routes taken
 * over that the plan does not hold (listed after it: a flag or a proxy
 * changed since) go, and leave the file; one that cannot be removed
 * stays listed, ours (stop tries again).
 * @ar: the auto-route state (active, or nothing is done)
 */
void zr_autoroute_commit(struct zr_autoroute *ar)
{
	char text[ZR_ROUTE_TEXT];
	unsigned n = ar->state.count;
	int err;

	if (!ar->active)
		return;
	for (unsigned i = n; i-- > ar->planned;) {
		zr_route_text(&ar->state.routes[i], text, sizeof(text));
		err = route_del(&ar->state.routes[i]);
		if (err < 0) {
			zr_warn("removing route %s of a previous run: %s; removed at exit",
				text, strerror(-err));
			continue;
		}
		zr_info("auto-route: removed %s of pid %ld: not planned again",
			text, ar->kept.owner.pid);
		state_remove(ar, i);
	}
	if (ar->state.count == n)
		return;
	err = zr_route_state_write(ar->path, &ar->state);
	if (err)
		zr_warn("auto-route: the state file %s still lists routes removed: %s",
			ar->path, strerror(-err));
}

/**
 * zr_autoroute_in_use() - before the TUN is made or attached to: whether
 * the state file of @c's TUN names a run that still runs (its TUN then,
 * up or down, and its routes and addresses are not ours to take over).
 * @c: the configuration (borrowed): state_dir, tun_name
 *
 * A file that cannot be read or parsed is left to zr_autoroute_start(),
 * which says what it is.
 *
 * Return: true (logged) if so.
 */
bool zr_autoroute_in_use(const struct zr_config *c)
{
	char path[ZR_STATE_PATH_MAX];
	struct zr_route_state old;

	if (!zr_ifname_ok(c->tun_name) ||
	    zr_route_state_path(path, sizeof(path), c->state_dir, c->tun_name) ||
	    zr_route_state_read(path, &old, NULL))
		return false;
	return still_running(path, &old);
}

/**
 * zr_autoroute_start() - clean up after a previous run, add the routes.
 * @ar: filled (caller-owned, zeroed here)
 * @c: the configuration (borrowed): state_dir, tun_name, proxies, have_ip6
 * @tun: the created TUN (borrowed)
 *
 * Return: 0 or a negative errno (logged).
 */
int zr_autoroute_start(struct zr_autoroute *ar, const struct zr_config *c,
		       const struct zr_tun *tun)
{
	char text[ZR_ROUTE_TEXT];
	unsigned planned;
	int err;

	memset(ar, 0, sizeof(*ar));
	ar->found = tun->existed;
	err = zr_route_state_path(ar->path, sizeof(ar->path), c->state_dir,
				  tun->ifname);
	if (err) {
		zr_err("--auto-route: state file path in '%s' too long", c->state_dir);
		return err;
	}
	err = clean_stale(ar->path, tun, &ar->kept);
	if (err)
		return err;
	/* From here until the new file is renamed over the old one (never
	 * removed first), the old file lists the routes kept. */
	err = plan(&ar->state, c, tun, &ar->kept);
	planned = ar->state.count;
	if (!err)
		err = take_over(ar, planned);
	if (!err) {
		err = zr_route_state_write(ar->path, &ar->state);
		if (err)
			zr_err("--auto-route: writing the state file %s: %s",
			       ar->path, strerror(-err));
	}
	if (err) {
		zr_autoroute_abort(ar);
		return err;
	}
	ar->active = true;
	for (unsigned i = 0; i < planned; i++) {
		const struct zr_route *r = &ar->state.routes[i];
		struct zr_nl_route nr;
		bool split = !strcmp(r->dev, tun->ifname);

		zr_route_text(r, text, sizeof(text));
		err = to_nl(r, &nr);
		if (!err)
			err = zr_nl_route_add(&nr);
		if (err == -EEXIST && was_kept(&ar->kept, r)) {
			ar->ours[i] = true;
			zr_info("auto-route: kept %s of pid %ld", text, ar->kept.owner.pid);
			continue;
		}
		if (err == -EEXIST && !split) {
			/* added since plan() looked: by someone else */
			zr_info("auto-route: %s exists already; left as it is", text);
			drop_not_ours(ar, i);
			planned--;
			i--;  /* the next one is at i now (unsigned wrap at 0) */
			continue;
		}
		if (err && split && r->dst.family == ZT_AF_INET6 && !c->have_ip6) {
			/* Only the kill switch asked for it; EACCES: IPv6 is
			 * disabled on the TUN. */
			zr_warn("--kill-switch: cannot route IPv6 into %s (%s): IPv6 is not covered",
				tun->ifname, strerror(-err));
			ar->ours[i] = false;
			continue;
		}
		if (err == -EEXIST) {
			zr_err("--auto-route: a route %s/%u exists already (another VPN, or routes added by hand?)",
			       zt_addr_format(&r->dst, text, sizeof(text)), r->prefix);
			zr_autoroute_abort(ar);
			return err;
		}
		if (err) {
			zr_err("--auto-route: adding route %s: %s", text, strerror(-err));
			zr_autoroute_abort(ar);
			return err;
		}
		ar->ours[i] = true;
		zr_info("auto-route: added %s", text);
	}
	ar->planned = planned;
	zr_info("auto-route: state in %s", ar->path);
	return 0;
}

/* The pinned host route of @addr in @s (not through @tun), or NULL. */
static const struct zr_route *exclusion_of(const struct zr_route_state *s,
					   const struct zt_addr *addr,
					   const struct zr_tun *tun)
{
	for (unsigned i = 0; i < s->count; i++)
		if (zt_addr_eq(&s->routes[i].dst, addr) &&
		    s->routes[i].prefix == zt_addr_len(addr) * 8 &&
		    strcmp(s->routes[i].dev, tun->ifname))
			return &s->routes[i];
	return NULL;
}

/**
 * zr_autoroute_proxy_moved() - keep a proxy's new address out of the TUN.
 * @ar: the auto-route state (active)
 * @to: the proxy's new address
 * @tun: our TUN (borrowed)
 * @egress: the interface direct traffic leaves by ("" for none)
 *
 * @to is pinned as at start (step 2) where the kernel's route to it goes
 * around the TUN; where it leads into the TUN (the split routes take what
 * no more specific route does), by the route it has out of @egress, the
 * one a socket bound there would take. The route is listed in the state
 * file, before the split routes (so that stop removes it after them),
 * then added; the old address's stays while flows are still open
 * through it (zr_autoroute_proxy_retire()).
 *
 * Return: 0 (pinned, or none needed: a local address), or a negative
 * errno after one error line (then nothing changed).
 */
int zr_autoroute_proxy_moved(struct zr_autoroute *ar, const struct zt_addr *to,
			     const struct zr_tun *tun, const char *egress)
{
	char text[ZR_ROUTE_TEXT];
	struct zr_route added;
	struct zr_nl_route nr;
	unsigned n = ar->state.count, at = 0;
	int err;

	if (!ar->active || exclusion_of(&ar->state, to, tun))
		return 0;
	/* the split routes are in place: a family they cover has a
	 * route, into the TUN (plan_exclusion() then asks @egress's) */
	err = plan_exclusion(&ar->state, to, tun,
			     egress[0] ? if_nametoindex(egress) : 0, false, NULL);
	if (err == -E2BIG)
		zr_err("auto-route: no room for the route of proxy %s (%d routes)",
		       zt_addr_format(to, text, sizeof(text)), ZR_ROUTE_STATE_MAX);
	if (err || ar->state.count == n)
		return err;
	/* the new route (last) goes before the first split route */
	added = ar->state.routes[n];
	while (at < n && strcmp(ar->state.routes[at].dev, tun->ifname))
		at++;
	for (unsigned j = n; j > at; j--) {
		ar->state.routes[j] = ar->state.routes[j - 1];
		ar->ours[j] = ar->ours[j - 1];
	}
	ar->state.routes[at] = added;
	ar->ours[at] = false;
	zr_route_text(&added, text, sizeof(text));
	err = zr_route_state_write(ar->path, &ar->state);
	if (err) {
		zr_err("auto-route: writing the state file %s: %s", ar->path,
		       strerror(-err));
		state_remove(ar, at);
		return err;
	}
	err = to_nl(&added, &nr);
	if (!err)
		err = zr_nl_route_add(&nr);
	if (err == -EEXIST) {
		/* added since plan_exclusion() looked: not ours */
		zr_info("auto-route: %s exists already; left as it is", text);
		drop_not_ours(ar, at);
		return 0;
	}
	if (err) {
		zr_err("auto-route: adding route %s: %s", text, strerror(-err));
		state_remove(ar, at);
		if (zr_route_state_write(ar->path, &ar->state))
			zr_warn("auto-route: the state file %s lists %s, not added",
				ar->path, text);
		return err;
	}
	ar->ours[at] = true;
	zr_info("auto-route: added %s", text);
	return 0;
}

/**
 * zr_autoroute_proxy_retire() - a moved proxy's old address no longer
 * needs its host route.
 * @ar: the auto-route state
 * @addr: the old address (no proxy is there now, no stream open to it)
 * @tun: our TUN (borrowed)
 *
 * The route is deleted (when this run added it: one that was there
 * before stays, someone else's), then dropped from the state file: a
 * crash in between leaves the file naming a route already gone, which the
 * next start's clean-up skips, never a route the file forgot. From then
 * on @addr is routed as any other address, into the TUN.
 *
 * Return: 0 (also when @addr has no route of ours), or a negative errno
 * after one warning (the route is kept and stop deletes it).
 */
int zr_autoroute_proxy_retire(struct zr_autoroute *ar, const struct zt_addr *addr,
			      const struct zr_tun *tun)
{
	const struct zr_route *r = ar->active ?
				   exclusion_of(&ar->state, addr, tun) : NULL;
	char text[ZR_ROUTE_TEXT];
	unsigned i;
	int err = 0;

	if (!r)
		return 0;
	i = (unsigned)(r - ar->state.routes);
	zr_route_text(r, text, sizeof(text));
	if (ar->ours[i])
		err = route_del(r);
	if (err < 0) {
		zr_warn("auto-route: removing %s: %s; it stays until exit",
			text, strerror(-err));
		return err;
	}
	if (ar->ours[i])
		zr_info("auto-route: removed %s: the proxy moved, and no flow goes there now",
			text);
	else
		zr_info("auto-route: %s was there before; left as it is, now that the proxy moved",
			text);
	state_remove(ar, i);
	err = zr_route_state_write(ar->path, &ar->state);
	if (err)
		zr_warn("auto-route: the state file %s still lists %s: %s",
			ar->path, text, strerror(-err));
	return 0;
}

/* Where the nameserver @ns goes: 0 into @tun, 1 around it (warned). */
static int dns_check_one(const struct zr_nameserver *ns, const struct zr_tun *tun)
{
	struct zr_nl_route via;
	char dev[IF_NAMESIZE] = "?";
	uint8_t type = 0;
	int err;

	if (ns->zone[0]) {
		zr_warn("auto-route: nameserver %s (%s) is link-local on %s: DNS queries to it go around the TUN and the proxy (a DNS leak)",
			ns->text, ZR_RESOLV_CONF, ns->zone);
		return 1;
	}
	err = zr_nl_route_get(&ns->addr, 0, &via, &type);
	if (err) {
		zr_debug("auto-route: nameserver %s: no route (%s)", ns->text,
			 strerror(-err));
		return 0;
	}
	if (type == RTN_LOCAL) {
		zr_warn("auto-route: nameserver %s (%s) is a resolver on this machine: where it sends the queries is its own setting (systemd-resolved sends each link's on that link, around the TUN), so they may go around the proxy (a DNS leak)",
			ns->text, ZR_RESOLV_CONF);
		return 1;
	}
	if (via.oif == tun->index) {
		zr_info("auto-route: nameserver %s goes through %s", ns->text,
			tun->ifname);
		return 0;
	}
	if_indextoname(via.oif, dev);
	zr_warn("auto-route: nameserver %s (%s) is reached through %s, not %s: DNS queries to it go around the proxy (a DNS leak); make the --fake-dns address the nameserver, or one routed into the TUN",
		ns->text, ZR_RESOLV_CONF, dev, tun->ifname);
	return 1;
}

/**
 * zr_autoroute_dns_check() - warn for each nameserver of ZR_RESOLV_CONF
 * that the routes in place send around @tun (borrowed); changes nothing.
 *
 * Return: how many were warned about.
 */
int zr_autoroute_dns_check(const struct zr_tun *tun)
{
	struct zr_nameserver ns[ZR_RESOLV_MAX];
	char *text = malloc(ZR_RESOLV_BYTES);
	ssize_t len = text ? zr_read_file(ZR_RESOLV_CONF, 0, text,
					  ZR_RESOLV_BYTES) : -ENOMEM;
	int n = 0, leaks = 0;

	if (len < 0)
		zr_debug("auto-route: %s: %s", ZR_RESOLV_CONF, strerror((int)-len));
	else
		n = zr_resolv_nameservers(text, (size_t)len, ns, ZR_RESOLV_MAX);
	free(text);
	for (int i = 0; i < n; i++)
		leaks += dns_check_one(&ns[i], tun);
	return leaks;
}

/**
 * zr_autoroute_stop() - delete the routes this run added, then the state
 * file. Safe to call twice and after a failed start.
 * @ar: the auto-route state
 */
void zr_autoroute_stop(struct zr_autoroute *ar)
{
	char text[ZR_ROUTE_TEXT];
	unsigned removed = 0;
	bool left = false;

	if (!ar->active)
		return;
	for (unsigned i = ar->state.count; i-- > 0;) {
		int err;

		if (!ar->ours[i])
			continue;
		err = route_del(&ar->state.routes[i]);
		if (err < 0) {
			zr_warn("auto-route: removing %s: %s",
				zr_route_text(&ar->state.routes[i], text, sizeof(text)),
				strerror(-err));
			left = true;
		} else {
			removed++;
		}
		ar->ours[i] = false;
	}
	if (left)
		zr_warn("auto-route: %s stays: it lists routes still there, for the next start to remove",
			ar->path);
	else if (unlink(ar->path) < 0 && errno != ENOENT)
		zr_warn("auto-route: removing %s: %s", ar->path, strerror(errno));
	ar->active = false;
	zr_info("auto-route: %u routes removed", removed);
}
