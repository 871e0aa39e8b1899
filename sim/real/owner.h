/* SPDX-License-Identifier: MIT */
/*
 * owner.h - the run that owns an --auto-route state file (routestate.h):
 * who it is, and whether it still runs.
 *
 * Theory of operation: a pid alone names a process only while it runs;
 * after it died the number is free for the next process, and after a
 * reboot (a --state-dir that survives one) it names whatever got it
 * then. Nor does the process's name tell: /proc/PID/comm is the basename
 * of the file executed, so a ztun-ref installed as "ztun", or started
 * through a symbolic link "vpn", is not named "ztun-ref", and another
 * program may be. So a state file records, with the pid, the process's
 * start time (field 22 "starttime" of /proc/PID/stat, clock ticks since
 * boot: no two processes of one boot have the same pid and start time)
 * and the boot id (/proc/sys/kernel/random/boot_id, new at each boot).
 * The owner is alive when this is the same boot, the pid exists, is not
 * a zombie (Z, or X) and started at that time, whatever it is named. A
 * file of format 1 (an older ztun-ref's) has no start time: its pid is
 * taken for alive only when it is a running process named "ztun-ref",
 * the only test such a file allows.
 */
#ifndef ZTUN_REAL_OWNER_H
#define ZTUN_REAL_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZR_BOOT_ID_LEN 36   /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

struct zr_owner {
	long pid;                       /* 1..INT32_MAX */
	uint64_t start;                 /* /proc/PID/stat starttime; 0: not
					 * recorded (a format 1 file) */
	char boot[ZR_BOOT_ID_LEN + 1];  /* the boot id, lower-case; "" when
					 * start is 0 */
};

/*
 * zr_proc_stat_parse() - the state letter and the start time (field 22)
 * of a /proc/PID/stat line: @len bytes of @text (borrowed, need not be
 * NUL-terminated). The name in parentheses (field 2) may hold blanks and
 * parentheses itself: the fields are counted from the last ')'.
 * Return: 0, or -EINVAL (not such a line: no ')', a field missing, a
 * start time that is no decimal number).
 */
int zr_proc_stat_parse(const char *text, size_t len, char *state,
		       uint64_t *start);

/* Whether @id (NUL-terminated) is a boot id as the kernel writes it:
 * 36 characters, lower-case hex digits and '-' at 8, 13, 18 and 23. */
bool zr_boot_id_ok(const char *id);

/*
 * zr_owner_of() - process @pid as a state file records it, into @o.
 * Return: 0, or a negative errno when /proc cannot tell its start time
 * or the boot id (@o->pid is set all the same, @o->start is 0).
 */
int zr_owner_of(long pid, struct zr_owner *o);

/* zr_owner_self() - this process, as zr_owner_of() says. */
int zr_owner_self(struct zr_owner *o);

/*
 * zr_owner_alive() - whether @o (borrowed) is a process that runs now,
 * other than this one, as the theory of operation above says. A process
 * /proc cannot read for a reason other than its absence (ENOENT, ESRCH)
 * is taken for alive: refusing a start can be undone, taking a live
 * run's routes away cannot.
 */
bool zr_owner_alive(const struct zr_owner *o);

#endif /* ZTUN_REAL_OWNER_H */
