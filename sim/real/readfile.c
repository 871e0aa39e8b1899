/* SPDX-License-Identifier: MIT */
/*
 * readfile.c - a small file read whole (readfile.h).
 */
#include "real/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t zr_read_file(const char *path, int oflags, char *buf, size_t cap)
{
	size_t len = 0;
	struct stat st;
	int fd, err = 0;

	/* O_NONBLOCK: a FIFO at @path opens at once (then is refused) */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | oflags);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -ENXIO;
	if (err) {
		close(fd);
		return err;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return err ? err : (ssize_t)len;
}
