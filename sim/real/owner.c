/* SPDX-License-Identifier: MIT */
/*
 * owner.c - who owns an --auto-route state file, and whether it still
 * runs (owner.h says why a pid alone does not tell).
 *
 * Theory of operation: /proc/PID/stat is read whole into a bounded
 * buffer and parsed by zr_proc_stat_parse(), which never reads past the
 * bytes given and counts fields from the last ')' (the process name
 * before it is anyone's choice, blanks and parentheses included). The
 * boot id is read from /proc/sys/kernel/random/boot_id and checked for
 * its shape before it is compared or written anywhere.
 */
#include "real/owner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "real/readfile.h"

#define STAT_FIELD_STATE 3
#define STAT_FIELD_START 22
#define STAT_BYTES 1024      /* a stat line is some 300 bytes */
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/**
 * zr_proc_stat_parse() - state and start time of a /proc/PID/stat line.
 * @text: the line (borrowed; not necessarily NUL-terminated)
 * @len: its bytes
 * @state: set to field 3 (R, S, D, Z, X, ...)
 * @start: set to field 22, clock ticks since boot
 *
 * Return: 0 or -EINVAL.
 */
int zr_proc_stat_parse(const char *text, size_t len, char *state,
		       uint64_t *start)
{
	const char *p = NULL, *f = NULL, *end = text + len;
	unsigned field = STAT_FIELD_STATE;
	uint64_t v = 0;

	for (size_t i = len; i-- > 0;)
		if (text[i] == ')') {
			p = text + i + 1;
			break;
		}
	if (!p)
		return -EINVAL;
	/* p is at the blank before field 3; each field is one blank, then
	 * bytes up to the next blank (or the newline after the last one) */
	for (;; field++) {
		if (p == end || *p != ' ')
			return -EINVAL;
		f = ++p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (p == f)
			return -EINVAL;
		if (field == STAT_FIELD_STATE) {
			if (p - f != 1)
				return -EINVAL;
			*state = *f;
		}
		if (field == STAT_FIELD_START)
			break;
	}
	/* field 22 is [f, p): decimal, no overflow */
	for (; f < p; f++) {
		if (*f < '0' || *f > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*f - '0');
	}
	*start = v;
	return 0;
}

/* zr_boot_id_ok() - see owner.h. */
bool zr_boot_id_ok(const char *id)
{
	if (strnlen(id, ZR_BOOT_ID_LEN + 1) != ZR_BOOT_ID_LEN)
		return false;
	for (unsigned i = 0; i < ZR_BOOT_ID_LEN; i++) {
		char c = id[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? c != '-' :
		    !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/* The boot id into @out (ZR_BOOT_ID_LEN + 1 bytes). Return: 0, -errno or
 * -EINVAL (not of its shape). */
static int read_boot_id(char *out)
{
	char buf[ZR_BOOT_ID_LEN + 2];
	ssize_t n = zr_read_file(BOOT_ID_PATH, 0, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	if (n != ZR_BOOT_ID_LEN + 1 || buf[ZR_BOOT_ID_LEN] != '\n')
		return -EINVAL;
	buf[ZR_BOOT_ID_LEN] = 0;
	if (!zr_boot_id_ok(buf))
		return -EINVAL;
	memcpy(out, buf, ZR_BOOT_ID_LEN + 1);
	return 0;
}

/* State and start time of process @pid. Return: 0, -ENOENT (no such
 * process), -EINVAL or another negative errno. */
static int read_stat(long pid, char *state, uint64_t *start)
{
	char path[64], buf[STAT_BYTES];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	n = zr_read_file(path, 0, buf, sizeof(buf));
	if (n == -ESRCH)
		return -ENOENT;
	if (n < 0)
		return (int)n;
	if ((size_t)n == sizeof(buf))
		return -EINVAL;
	return zr_proc_stat_parse(buf, (size_t)n, state, start);
}

/**
 * zr_owner_of() - process @pid as a state file names it.
 * @pid: the process
 * @o: filled (caller-owned)
 *
 * Return: 0 or a negative errno (then @o->start is 0, @o->boot "").
 */
int zr_owner_of(long pid, struct zr_owner *o)
{
	char state;
	int err;

	memset(o, 0, sizeof(*o));
	o->pid = pid;
	err = read_stat(pid, &state, &o->start);
	if (!err && o->start == 0)
		err = -EINVAL;  /* 0 would read as "not recorded" */
	if (!err)
		err = read_boot_id(o->boot);
	if (err) {
		o->start = 0;
		o->boot[0] = 0;
	}
	return err;
}

/**
 * zr_owner_self() - this process as a state file names it.
 * @o: filled (caller-owned)
 *
 * Return: see zr_owner_of().
 */
int zr_owner_self(struct zr_owner *o)
{
	return zr_owner_of((long)getpid(), o);
}

/* Format 1's test: whether @pid's name is "ztun-ref" (and it is not a
 * zombie: that one keeps its name). */
static bool named_ztun_ref(long pid)
{
	char path[64], comm[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	n = zr_read_file(path, 0, comm, sizeof(comm) - 1);
	if (n < 0)
		return false;
	comm[n] = 0;
	return !strcmp(comm, "ztun-ref\n");
}

/**
 * zr_owner_alive() - whether the run @o still runs (see owner.h).
 * @o: the owner a state file names (borrowed)
 *
 * Return: true if so.
 */
bool zr_owner_alive(const struct zr_owner *o)
{
	char state = 0, boot[ZR_BOOT_ID_LEN + 1];
	uint64_t start = 0;
	int err;

	if (o->pid == (long)getpid())
		return false;   /* our own file: no other run */
	if (o->start) {
		/* another boot's pid names nothing of that run; a boot id
		 * that cannot be read leaves the start time to tell */
		if (!read_boot_id(boot) && strcmp(boot, o->boot))
			return false;
	} else if (!named_ztun_ref(o->pid)) {
		return false;
	}
	err = read_stat(o->pid, &state, &start);
	if (err == -ENOENT)
		return false;
	if (err)
		return true;    /* cannot tell: not taken for dead */
	if (state == 'Z' || state == 'X')
		return false;
	return !o->start || start == o->start;
}
