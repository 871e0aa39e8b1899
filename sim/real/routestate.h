/* SPDX-License-Identifier: MIT */
/*
 * routestate.h - the --auto-route state file of ztun-ref: which routes a
 * run added, so that the next run can remove them after a SIGKILL.
 *
 * Theory of operation: a run writes the file before it adds a route and
 * removes it after it deleted them all; the file lists every route the run
 * intends to add (docs/cli.md, "--auto-route"). The format is line based
 * text, one record per line, every line ending in '\n':
 *
 *   ztun-ref-routes 2
 *   pid 1234
 *   start 5678901
 *   boot 0f1e2d3c-4b5a-4697-8877-665544332211
 *   route 0.0.0.0/1 dev ztun0
 *   route 192.0.2.10/32 via 10.0.2.2 dev eth0
 *
 * The first line names the format and its version (a later version's
 * file is told apart from a damaged one, and left alone); "pid", "start"
 * and "boot" (each exactly once, before any route) name the writer's
 * process: its id, its start time (clock ticks since boot, field 22 of
 * /proc/PID/stat, 1 or more) and the boot id it ran in, so that a later
 * start tells whether it still runs whatever its name (owner.h); each
 * "route" is a
 * destination prefix, an optional gateway of the same family and the
 * device by name (an index would not survive the device's re-creation).
 * Format 1 (older ztun-refs') is read too: the same without "start" and
 * "boot"; it is written only to keep listing the routes of such a file's
 * dead writer under its pid (the owner's start unknown).
 * Blank lines and lines starting with '#' are skipped. The parser is
 * strict: any unknown keyword, a malformed or out-of-range field, an extra
 * field, a missing final newline (a truncated write), a NUL byte or more
 * than ZR_ROUTE_STATE_MAX routes rejects the whole file, and names the
 * line. Nothing here talks to the kernel: autoroute.c does.
 */
#ifndef ZTUN_REAL_ROUTESTATE_H
#define ZTUN_REAL_ROUTESTATE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "real/owner.h"
#include "ztun/addr.h"

#define ZR_ROUTE_STATE_MAX 16      /* routes per file */
#define ZR_ROUTE_STATE_BYTES 4096  /* a longer file is not ours */
#define ZR_STATE_PATH_MAX 4096     /* a state directory or file path */

/* One route: @dst/@prefix [via @gateway] dev @dev, in the main table. */
struct zr_route {
	struct zt_addr dst;
	uint8_t prefix;             /* 0..32 or 0..128 by dst.family */
	bool has_gateway;
	struct zt_addr gateway;     /* same family as dst */
	char dev[IF_NAMESIZE];      /* NUL-terminated, non-empty */
};

/* The format this ztun-ref writes ("ztun-ref-routes 2"); it reads 1 too. */
#define ZR_ROUTE_STATE_VERSION 2

struct zr_route_state {
	unsigned version;           /* of the file read (parse, read) */
	struct zr_owner owner;      /* the run that wrote the file; its
				     * start 0: format 1 */
	unsigned count;
	struct zr_route routes[ZR_ROUTE_STATE_MAX];
};

/*
 * zr_route_state_format() - the file's text for @s into @buf (@cap bytes,
 * caller-owned), NUL-terminated.
 * Format 2, or format 1 when @s->owner.start is 0 (a format 1 file's
 * owner, whose start is not known).
 * Return: its length, or -ENOSPC (buffer too small) / -EINVAL (@s has a
 * route that cannot be written: bad family, prefix or device name; or
 * an owner with no pid, or with a start but a malformed boot id).
 */
int zr_route_state_format(const struct zr_route_state *s, char *buf,
			  size_t cap);

/*
 * zr_route_state_parse() - parse @len bytes of @text (borrowed, need not be
 * NUL-terminated) into @s.
 * @bad_line: set to the 1-based number of the first rejected line (0 when
 *            the file as a whole is wrong, e.g. empty); may be NULL
 * Return: 0, -EINVAL (malformed), -E2BIG (more than ZR_ROUTE_STATE_MAX
 * routes) or -EPROTONOSUPPORT (the first line names a later version than
 * ZR_ROUTE_STATE_VERSION: a newer ztun-ref's file, whatever follows;
 * @s->version is that version). @s is undefined after another failure.
 */
int zr_route_state_parse(const char *text, size_t len,
			 struct zr_route_state *s, unsigned *bad_line);

/* Whether the kernel takes @name as an interface's name as it is (and
 * it has no '%' to expand); routestate.c tells the rules. */
bool zr_ifname_ok(const char *name);

/*
 * zr_route_state_path() - "@dir/@tun_name.routes" into @buf (@cap bytes).
 * Return: 0 or -ENAMETOOLONG.
 */
int zr_route_state_path(char *buf, size_t cap, const char *dir,
			const char *tun_name);

/*
 * zr_route_state_write() - write @s to @path through a new temporary file
 * in the same directory (created with O_EXCL, of an unpredictable name)
 * and rename(2) over @path, so a reader sees the old file or the new one,
 * never half of it, and never no file. Creates the directory (one level, mode 0700)
 * when missing. Return: 0 or a negative errno.
 */
int zr_route_state_write(const char *path, const struct zr_route_state *s);

/*
 * zr_route_state_read() - read and parse @path into @s.
 * Return: 0, -ENOENT (no file), -ENXIO (not a regular file: refused
 * unread, a FIFO would block), -EFBIG (longer than ZR_ROUTE_STATE_BYTES,
 * unless a newer format's: -EPROTONOSUPPORT then at any length), a parse
 * error of zr_route_state_parse() (@bad_line set), or another negative
 * errno.
 */
int zr_route_state_read(const char *path, struct zr_route_state *s,
			unsigned *bad_line);

/* "DST/N [via GW] dev DEV" into @buf (at least ZR_ROUTE_TEXT bytes). */
#define ZR_ROUTE_TEXT (2 * ZT_ADDR_STRLEN + IF_NAMESIZE + 16)
char *zr_route_text(const struct zr_route *r, char *buf, size_t cap);

#endif /* ZTUN_REAL_ROUTESTATE_H */
