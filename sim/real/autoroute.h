/* SPDX-License-Identifier: MIT */
/*
 * autoroute.h - ztun-ref --auto-route: route everything into the TUN
 * without looping, and put the routing table back at exit.
 *
 * Theory of operation (docs/cli.md, "Auto-route", says why this design):
 *
 *  1. Stale state. If the state file of this TUN name exists, a previous
 *     run did not get to clean up (SIGKILL, crash). A file of a newer
 *     format (a newer ztun-ref's) fails the start, untouched. Unless that run is
 *     still alive (owner.h: its pid runs, not a zombie, with the start
 *     time and boot id the file records, whatever its name; then we
 *     refuse to start, and ztun-ref tests it before it touches the TUN:
 *     zr_autoroute_in_use()),
 *     every route it lists is deleted - only routes of protocol
 *     ZR_RTPROT_ZTUN match, so nobody else's route goes - and the file is
 *     removed, with a warning naming the old pid. Unless the TUN outlived
 *     that run (it was persistent: --kill-switch): then its routes into
 *     the TUN are what stops traffic, and they stay, so that there is no
 *     moment without them; so does the proxy's host route, which could
 *     not be asked for anew past them. Step 3 takes over those it plans
 *     again and deletes the others once the start succeeded (3b). The old
 *     file stays until step 3 renames the new one over it (or, when a
 *     route could not be deleted, until the kept routes are gone), so a
 *     file lists every route of ours at any moment, SIGKILL included.
 *  2. Plan. For each proxy address, the kernel is asked (RTM_GETROUTE)
 *     how it reaches it now; a host route (/32, /128) with that gateway
 *     and device pins it there, so the proxy connection never enters the
 *     TUN. A host route to the proxy that exists already (an RTM_GETROUTE
 *     dump finds it) is someone else's, perhaps another ztun-ref's (its
 *     protocol is 122 too): it is left as it is and never listed in the
 *     state file, so that no start after a SIGKILL of ours deletes it;
 *     unless it is one of the routes kept in step 1. A proxy on a local
 *     address needs none; one with no route at
 *     all, of a family the split routes take, fails the start (its
 *     connection would loop through the TUN). Then the split routes
 *     0.0.0.0/1 and 128.0.0.0/1 dev TUN (and ::/1, 8000::/1 with
 *     --tun-ip6 or --kill-switch): more specific than any default route, less specific than
 *     everything else, so the default route stays as it is and is still
 *     what direct sockets use - they are bound to the egress with
 *     SO_BINDTODEVICE, and a bound socket's route lookup skips routes
 *     through other devices.
 *  3. The state file (routestate.h) listing the plan is written, then the
 *     routes are added, exclusions first. An exclusion that exists already
 *     (added since step 2 looked) is someone else's and stays, and leaves
 *     the list and the file at once; a split route that exists already
 *     (unless kept in step 1: then it is ours), or any other failure,
 *     fails the start (3c). Those kept in step 1 that the plan does not
 *     hold are listed after it and stay until 3b. With --kill-switch but
 *     no --tun-ip6, a kernel that refuses IPv6 on the TUN costs a
 *     warning, not the start.
 *  3b. Once ztun-ref's whole setup succeeded (zr_autoroute_commit()), the
 *     routes kept in step 1 that the plan does not hold are deleted and
 *     leave the file.
 *  3c. A start that fails, in step 1 to 3 or later in ztun-ref's setup
 *     (zr_autoroute_abort()): on a TUN it created, every route of step 1
 *     and 3 goes, then the file. On a TUN it found (a kill switch left by
 *     a dead run) it leaves the kill switch as it found it: the routes of
 *     step 1 stay, listed in the file under the old pid, and only those
 *     step 3 added go (a proxy's new host route would let its address
 *     around the TUN later).
 *  3d. DNS: each nameserver of /etc/resolv.conf that the routes now in
 *     place send around the TUN is named in a warning (a DNS leak:
 *     resolvconf.h); nothing is changed.
 *  3e. A proxy given by name that a SIGHUP finds at another address gets
 *     its host route then (zr_autoroute_proxy_moved()), as in step 2 but
 *     through the egress interface where the split routes would take it.
 *     The old address's route goes once no proxy is there and no stream
 *     of ours goes there (zr_autoroute_proxy_retire()).
 *  4. Stop: the routes this run added are deleted in reverse order (split
 *     routes first, so nothing is captured while the TUN closes), then the
 *     file is removed. Routes through the TUN would vanish with the device
 *     anyway; the exclusion routes would not, hence the file.
 */
#ifndef ZTUN_REAL_AUTOROUTE_H
#define ZTUN_REAL_AUTOROUTE_H

#include <stdbool.h>

#include "real/config.h"
#include "real/routestate.h"
#include "real/tun.h"

struct zr_autoroute {
	char path[ZR_STATE_PATH_MAX];   /* the state file */
	struct zr_route_state state;    /* every route planned, as written */
	bool ours[ZR_ROUTE_STATE_MAX];  /* added (or kept) by this run */
	struct zr_route_state kept;     /* a dead run's routes through our
					 * TUN, left in place (step 1) */
	bool found;                     /* the TUN was there (a kill switch):
					 * a failed start keeps what it found */
	bool active;                    /* the file exists and is ours */
	unsigned planned;               /* state.routes[planned..]: taken
					 * over, not planned (go at commit) */
};

/*
 * zr_autoroute_in_use() - step 1's test, made before the TUN named in @c
 * (borrowed) is created or attached to: whether its state file names a
 * run that still runs (owner.h), whatever that run's name, and whether
 * its TUN is up or down. Return: true after one error line (the caller
 * exits 1, having touched nothing), else false.
 */
bool zr_autoroute_in_use(const struct zr_config *c);

/*
 * zr_autoroute_start() - steps 1 to 3 above, for the TUN @tun created from
 * config @c (both borrowed; @ar keeps no pointer to them).
 * Return: 0, or a negative errno after one error line was logged (the
 * caller exits 1); failed, it has undone itself as
 * zr_autoroute_abort() says.
 */
int zr_autoroute_start(struct zr_autoroute *ar, const struct zr_config *c,
		       const struct zr_tun *tun);

/*
 * zr_autoroute_commit() - step 3b: ztun-ref's whole setup succeeded; the
 * routes taken over that this run does not plan go now.
 */
void zr_autoroute_commit(struct zr_autoroute *ar);

/*
 * zr_autoroute_abort() - step 3c: the start failed (after
 * zr_autoroute_start() succeeded, say at --fake-dns, or within it). On a
 * TUN that was there already (a dead --kill-switch run's) the routes
 * found there stay, listed in the state file (under the dead run's pid)
 * for the next start to take over, and only those this start added go;
 * otherwise nothing is left behind. Safe to call twice.
 */
void zr_autoroute_abort(struct zr_autoroute *ar);

/*
 * zr_autoroute_proxy_moved() - after start: a proxy's name now gives @to
 * (SIGHUP). @to is pinned like the proxies at start, by its route out of
 * interface @egress (direct traffic's) where the kernel's route leads
 * into the TUN; listed in the state file first, removed at stop; the old
 * address's route stays (zr_autoroute_proxy_retire()). Return: 0, or a
 * negative errno after one error line (nothing changed).
 */
int zr_autoroute_proxy_moved(struct zr_autoroute *ar, const struct zt_addr *to,
			     const struct zr_tun *tun, const char *egress);

/*
 * zr_autoroute_proxy_retire() - the old address @addr of a proxy that
 * moved, once no proxy is there and no stream of ztun-ref's goes there:
 * its host route deleted (if this run added it) and dropped from the
 * state file, so that @addr is routed into the TUN as any other. Return:
 * 0 (also with no such route), or a negative errno after a warning.
 */
int zr_autoroute_proxy_retire(struct zr_autoroute *ar, const struct zt_addr *addr,
			      const struct zr_tun *tun);

/* What the system's resolver reads: its nameservers are checked. */
#define ZR_RESOLV_CONF "/etc/resolv.conf"

/*
 * zr_autoroute_dns_check() - after start: each nameserver of
 * ZR_RESOLV_CONF that the routes send around @tun (on-link, pinned, a
 * resolver on this machine, a link-local zone) gets a warning naming it
 * and where it goes (a DNS leak); one that goes into the TUN an info
 * line. Changes nothing. Return: how many were warned about.
 */
int zr_autoroute_dns_check(const struct zr_tun *tun);

/* zr_autoroute_stop() - step 4; does nothing unless start succeeded. */
void zr_autoroute_stop(struct zr_autoroute *ar);

#endif /* ZTUN_REAL_AUTOROUTE_H */
