/* SPDX-License-Identifier: MIT */
/*
 * readfile.h - a small file read whole into the caller's buffer: the
 * --auto-route state file (routestate.c), /etc/resolv.conf
 * (autoroute.c), /proc/PID/stat and the boot id (owner.c).
 */
#ifndef ZTUN_REAL_READFILE_H
#define ZTUN_REAL_READFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * zr_read_file() - read the file at @path into @buf (@cap bytes, the
 * caller's) until its end or @cap, whichever comes first.
 * @oflags: added to O_RDONLY | O_CLOEXEC | O_NONBLOCK (e.g. O_NOFOLLOW)
 * Only a regular file is read: anything else (a FIFO, which would block,
 * a device, a socket, a directory) is refused right after open().
 * Return: the bytes read (@cap: the file may be longer), -ENXIO (not a
 * regular file), or a negative errno from open(), fstat() or read().
 */
ssize_t zr_read_file(const char *path, int oflags, char *buf, size_t cap);

#endif /* ZTUN_REAL_READFILE_H */
