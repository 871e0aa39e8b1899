/* SPDX-License-Identifier: MIT */
/*
 * readfile.h - a small file read whole into the caller's buffer: the
 * --auto-route state file (routestate.c) and /etc/resolv.conf
 * (autoroute.c).
 */
#ifndef ZTUN_REAL_READFILE_H
#define ZTUN_REAL_READFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * zr_read_file() - read the file at @path into @buf (@cap bytes, the
 * caller's) until its end or @cap, whichever comes first.
 * @oflags: added to O_RDONLY | O_CLOEXEC (e.g. O_NOFOLLOW)
 * Return: the bytes read (@cap: the file may be longer), or a negative
 * errno from open() or read().
 */
ssize_t zr_read_file(const char *path, int oflags, char *buf, size_t cap);

#endif /* ZTUN_REAL_READFILE_H */
