/* SPDX-License-Identifier: MIT */
/*
 * routestate.c - format, parse, write and read the --auto-route state file
 * (the format is described in routestate.h).
 *
 * Theory of operation: the parser walks the buffer line by line without
 * ever reading past @len: each line must end in '\n' inside the buffer, is
 * at most ZR_LINE_MAX bytes, holds no NUL, and is copied into a bounded
 * local buffer before it is split on blanks, so a truncated or garbage
 * file is rejected with the number of its first bad line and never read
 * beyond. Numbers are parsed with strtol and range-checked; addresses with
 * zt_addr_parse(). Writing goes through a new "PATH.tmp.XXXXXX" (O_EXCL)
 * and rename(2) over PATH.
 */
#define _GNU_SOURCE /* mkostemp */
#include "real/routestate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real/readfile.h"

#define ZR_MAGIC "ztun-ref-routes "
#define ZR_LINE_MAX 200
#define ZR_FIELDS_MAX 8

/**
 * zr_ifname_ok() - whether the kernel takes @name as an interface's name
 * as it is: dev_valid_name() (1..IF_NAMESIZE - 1 bytes, not "." or "..",
 * no '/', ':' or byte its isspace() takes, 0xa0 included), and no '%'
 * (which it would expand: "tun%d" names the first free tunN).
 * @name: NUL-terminated
 *
 * Return: true if so.
 */
bool zr_ifname_ok(const char *name)
{
	size_t n = strnlen(name, IF_NAMESIZE);

	if (n == 0 || n == IF_NAMESIZE || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '/' || ch == ':' || ch == '%' || ch == ' ' ||
		    (ch >= '\t' && ch <= '\r') || ch == 0xa0)
			return false;
	}
	return true;
}

/**
 * zr_route_text() - a route as "DST/N [via GW] dev DEV".
 * @r: the route (borrowed)
 * @buf: output, caller-owned
 * @cap: its size (ZR_ROUTE_TEXT is enough)
 *
 * Return: @buf.
 */
char *zr_route_text(const struct zr_route *r, char *buf, size_t cap)
{
	char d[ZT_ADDR_STRLEN], g[ZT_ADDR_STRLEN];

	zt_addr_format(&r->dst, d, sizeof(d));
	if (r->has_gateway)
		zt_addr_format(&r->gateway, g, sizeof(g));
	snprintf(buf, cap, "%s/%u%s%s dev %s", d, r->prefix,
		 r->has_gateway ? " via " : "", r->has_gateway ? g : "", r->dev);
	return buf;
}

static bool route_ok(const struct zr_route *r)
{
	unsigned max;

	if (r->dst.family == ZT_AF_INET)
		max = 32;
	else if (r->dst.family == ZT_AF_INET6)
		max = 128;
	else
		return false;
	if (r->prefix > max || !zr_ifname_ok(r->dev))
		return false;
	return !r->has_gateway || r->gateway.family == r->dst.family;
}

/**
 * zr_route_state_format() - the state file's text: format 2, or 1 for an
 * owner whose start is not known (0).
 * @s: the state (borrowed)
 * @buf: output, caller-owned, NUL-terminated on success
 * @cap: its size
 *
 * Return: the length written (without the NUL), -ENOSPC or -EINVAL.
 */
int zr_route_state_format(const struct zr_route_state *s, char *buf, size_t cap)
{
	char text[ZR_ROUTE_TEXT];
	size_t off = 0;
	int n;
	const struct zr_owner *o = &s->owner;

	if (s->count > ZR_ROUTE_STATE_MAX || o->pid <= 0 || o->pid > INT32_MAX ||
	    (o->start && !zr_boot_id_ok(o->boot)))
		return -EINVAL;
	if (o->start)
		n = snprintf(buf, cap, "%s%d\npid %ld\nstart %llu\nboot %s\n",
			     ZR_MAGIC, ZR_ROUTE_STATE_VERSION, o->pid,
			     (unsigned long long)o->start, o->boot);
	else
		n = snprintf(buf, cap, "%s1\npid %ld\n", ZR_MAGIC, o->pid);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	off = (size_t)n;
	for (unsigned i = 0; i < s->count; i++) {
		if (!route_ok(&s->routes[i]))
			return -EINVAL;
		n = snprintf(buf + off, cap - off, "route %s\n",
			     zr_route_text(&s->routes[i], text, sizeof(text)));
		if (n < 0 || (size_t)n >= cap - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return (int)off;
}

/* "ADDR/N" into @r->dst and @r->prefix. */
static int parse_prefix(const char *s, struct zr_route *r)
{
	char addr[ZT_ADDR_STRLEN];
	const char *slash = strchr(s, '/');
	char *end;
	long v;

	if (!slash || slash == s || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = 0;
	if (zt_addr_parse(addr, &r->dst))
		return -EINVAL;
	if (slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(slash + 1, &end, 10);
	if (errno || *end || v < 0 ||
	    v > (r->dst.family == ZT_AF_INET ? 32 : 128))
		return -EINVAL;
	r->prefix = (uint8_t)v;
	return 0;
}

/* "route DST/N [via GW] dev DEV", already split into @f[0..@n). */
static int parse_route(char **f, unsigned n, struct zr_route *r)
{
	unsigned i = 2;

	memset(r, 0, sizeof(*r));
	if (n < 4 || parse_prefix(f[1], r))
		return -EINVAL;
	if (!strcmp(f[i], "via")) {
		if (n != 6 || zt_addr_parse(f[i + 1], &r->gateway) ||
		    r->gateway.family != r->dst.family)
			return -EINVAL;
		r->has_gateway = true;
		i += 2;
	}
	if (n != i + 2 || strcmp(f[i], "dev") || !zr_ifname_ok(f[i + 1]))
		return -EINVAL;
	strcpy(r->dev, f[i + 1]);
	return 0;
}

/* "KEY N" with N decimal in 1..@max, no sign, no leading zero. */
static int parse_number(char **f, unsigned n, unsigned long long max,
			unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (n != 2 || f[1][0] < '1' || f[1][0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(f[1], &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A line "pid", "start" or "boot" of the owner (split into @f[0..@n))
 * into @o, each once (@seen: bit 0, 1, 2) and only in a file of a
 * format that has it (@version). Return: 0, 1 (not such a line) or
 * -EINVAL. */
static int parse_owner(char **f, unsigned n, unsigned version,
		       struct zr_owner *o, unsigned *seen)
{
	unsigned long long v;
	unsigned bit;

	if (!strcmp(f[0], "pid"))
		bit = 1;
	else if (!strcmp(f[0], "start") && version >= 2)
		bit = 2;
	else if (!strcmp(f[0], "boot") && version >= 2)
		bit = 4;
	else
		return 1;
	if (*seen & bit)
		return -EINVAL;
	*seen |= bit;
	if (bit == 4) {
		if (n != 2 || !zr_boot_id_ok(f[1]))
			return -EINVAL;
		memcpy(o->boot, f[1], ZR_BOOT_ID_LEN + 1);
		return 0;
	}
	if (parse_number(f, n, bit == 1 ? INT32_MAX : UINT64_MAX, &v))
		return -EINVAL;
	if (bit == 1)
		o->pid = (long)v;
	else
		o->start = v;
	return 0;
}

/* The first line @line (NUL-terminated, without its '\n'),
 * "ztun-ref-routes N" (N decimal, no leading zero: *@version = N): 0 for
 * a version we read (1 up to ours), -EPROTONOSUPPORT for a later one,
 * else -EINVAL. */
static int parse_header(const char *line, unsigned *version)
{
	const char *v = line + strlen(ZR_MAGIC);
	char *end;
	long n;

	if (strncmp(line, ZR_MAGIC, strlen(ZR_MAGIC)) || v[0] < '1' || v[0] > '9')
		return -EINVAL;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n > 1000000)
		return -EINVAL;
	*version = (unsigned)n;
	return n > ZR_ROUTE_STATE_VERSION ? -EPROTONOSUPPORT : 0;
}

/* The first line of @len bytes of @text, as parse_header() takes it. */
static int parse_first_line(const char *text, size_t len, unsigned *version)
{
	char line[ZR_LINE_MAX + 1];
	const char *nl = memchr(text, '\n', len);
	size_t ll;

	if (!nl)
		return -EINVAL;
	ll = (size_t)(nl - text);
	if (ll > ZR_LINE_MAX || memchr(text, 0, ll))
		return -EINVAL;
	memcpy(line, text, ll);
	line[ll] = 0;
	return parse_header(line, version);
}

/**
 * zr_route_state_parse() - parse a state file's text (see routestate.h).
 * @text: the bytes (borrowed; not necessarily NUL-terminated)
 * @len: their number
 * @s: filled on success
 * @bad_line: the first rejected line, 0 for the file as a whole; may be NULL
 *
 * A first line "ztun-ref-routes N" of a later version than ours makes
 * the file a newer format's, whatever follows: -EPROTONOSUPPORT, with
 * @s->version N (the caller must not touch what it does not know).
 *
 * Return: 0, -EINVAL, -E2BIG or -EPROTONOSUPPORT.
 */
int zr_route_state_parse(const char *text, size_t len, struct zr_route_state *s,
			 unsigned *bad_line)
{
	unsigned lineno = 0, dummy, seen = 0, want = 0;
	bool header = false;
	size_t pos = 0;
	int err;

	if (!bad_line)
		bad_line = &dummy;
	*bad_line = 0;
	memset(s, 0, sizeof(*s));
	while (pos < len) {
		char line[ZR_LINE_MAX + 1], *f[ZR_FIELDS_MAX], *save = NULL, *tok;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll;
		unsigned n = 0;

		lineno++;
		*bad_line = lineno;
		if (!nl)
			return -EINVAL;                 /* truncated */
		ll = (size_t)(nl - (text + pos));
		if (ll > ZR_LINE_MAX || memchr(text + pos, 0, ll))
			return -EINVAL;
		memcpy(line, text + pos, ll);
		line[ll] = 0;
		pos += ll + 1;
		if (!header) {
			err = parse_header(line, &s->version);
			if (err)
				return err;
			header = true;
			want = s->version >= 2 ? 7 : 1;   /* pid [start boot] */
			continue;
		}
		for (tok = strtok_r(line, " \t\r", &save); tok;
		     tok = strtok_r(NULL, " \t\r", &save)) {
			if (n == ZR_FIELDS_MAX)
				return -EINVAL;
			f[n++] = tok;
		}
		if (n == 0 || f[0][0] == '#')
			continue;
		err = parse_owner(f, n, s->version, &s->owner, &seen);
		if (err < 0)
			return err;
		if (err == 0)
			continue;
		if (!strcmp(f[0], "route")) {
			if (seen != want)
				return -EINVAL;
			if (s->count == ZR_ROUTE_STATE_MAX)
				return -E2BIG;
			err = parse_route(f, n, &s->routes[s->count]);
			if (err)
				return err;
			s->count++;
		} else {
			return -EINVAL;
		}
	}
	*bad_line = 0;
	if (!header || seen != want)
		return -EINVAL;
	return 0;
}

/**
 * zr_route_state_path() - the state file of a TUN.
 * @buf: output, caller-owned
 * @cap: its size
 * @dir: the state directory (borrowed)
 * @tun_name: the TUN's name (borrowed)
 *
 * Return: 0 or -ENAMETOOLONG.
 */
int zr_route_state_path(char *buf, size_t cap, const char *dir,
			const char *tun_name)
{
	int n = snprintf(buf, cap, "%s/%s.routes", dir, tun_name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* mkdir of @path's directory (its last component stripped), mode 0700. */
static int make_parent_dir(const char *path)
{
	char dir[ZR_STATE_PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash || slash == path)
		return 0;
	n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/**
 * zr_route_state_write() - write @s to @path atomically (temporary file and
 * rename over @path, which is replaced, never removed first). No fsync:
 * the file matters for a process crash, not a power cut (routes do not
 * survive a reboot either). The temporary file "PATH.tmp.XXXXXX" is a new
 * one of an unpredictable name (mkostemp(3): O_CREAT | O_EXCL, so neither
 * a file nor a symbolic link planted there is opened).
 * @path: the state file (borrowed)
 * @s: the state (borrowed)
 *
 * Return: 0 or a negative errno.
 */
int zr_route_state_write(const char *path, const struct zr_route_state *s)
{
	char text[ZR_ROUTE_STATE_BYTES], tmp[ZR_STATE_PATH_MAX + 32];
	ssize_t done = 0;
	int len, fd, err;

	len = zr_route_state_format(s, text, sizeof(text));
	if (len < 0)
		return len;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	err = make_parent_dir(path);
	if (err)
		return err;
	fd = mkostemp(tmp, O_CLOEXEC);   /* mode 0600 */
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, text + done, (size_t)(len - done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			close(fd);
			unlink(tmp);
			return err;
		}
		done += n;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

/**
 * zr_route_state_read() - read and parse a state file.
 * @path: the file (borrowed)
 * @s: filled on success
 * @bad_line: see zr_route_state_parse(); may be NULL
 *
 * Return: 0, -ENOENT, -EFBIG, -EINVAL, -E2BIG, -EPROTONOSUPPORT (a newer
 * format, at any length: @s->version set) or another negative errno.
 */
int zr_route_state_read(const char *path, struct zr_route_state *s,
			unsigned *bad_line)
{
	char text[ZR_ROUTE_STATE_BYTES + 1];
	ssize_t len;

	if (bad_line)
		*bad_line = 0;
	len = zr_read_file(path, O_NOFOLLOW, text, sizeof(text));
	if (len < 0)
		return (int)len;
	if (len > ZR_ROUTE_STATE_BYTES) {
		/* a newer format's may be longer: say which it is */
		memset(s, 0, sizeof(*s));
		if (parse_first_line(text, (size_t)len, &s->version) ==
		    -EPROTONOSUPPORT) {
			if (bad_line)
				*bad_line = 1;
			return -EPROTONOSUPPORT;
		}
		return -EFBIG;
	}
	return zr_route_state_parse(text, (size_t)len, s, bad_line);
}
