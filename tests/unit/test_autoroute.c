/* SPDX-License-Identifier: MIT */
/*
 * test_autoroute.c - ztun-ref --auto-route's start (sim/real/autoroute.c)
 * with a state file left in its directory, against a fake kernel
 * (zr_nl_set_socket_hook()): no test here changes a real route. The log
 * lines of each start are captured from stderr and checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "real/autoroute.h"
#include "real/netlink.h"
#include "test.h"

/* No kernel: every rtnetlink request fails. */
static int no_kernel(uint32_t seq, uint32_t *port)
{
	(void)seq;
	(void)port;
	return -ENETDOWN;
}

struct fixture {
	char dir[64];
	char path[128];
	char log[128];
	struct zr_config cfg;
	struct zr_tun tun;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/zt-autoroute-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(f->dir) != NULL);
	snprintf(f->cfg.state_dir, sizeof(f->cfg.state_dir), "%s", f->dir);
	/* a device that does not exist: no route through it can be added */
	snprintf(f->tun.ifname, sizeof(f->tun.ifname), "za-none0");
	f->tun.index = 4242;
	f->tun.fd = -1;
	snprintf(f->path, sizeof(f->path), "%s/za-none0.routes", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
}

static void fixture_done(struct fixture *f)
{
	unlink(f->path);
	unlink(f->log);
	CU_ASSERT_EQUAL(rmdir(f->dir), 0);
}

static void put_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	CU_ASSERT_FATAL(fp != NULL);
	fputs(text, fp);
	fclose(fp);
}

/* The file's text into @buf (NUL-terminated); "" when it is gone. */
static void get_file(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(buf, 1, cap - 1, fp);
		fclose(fp);
	}
	buf[n] = 0;
}

/* zr_autoroute_start() with stderr into @f->log. */
static int start_logged(struct fixture *f, struct zr_autoroute *ar)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	zr_nl_set_socket_hook(no_kernel);
	rc = zr_autoroute_start(ar, &f->cfg, &f->tun);
	zr_nl_set_socket_hook(NULL);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	return rc;
}

/* A state file of a newer format (a newer ztun-ref's, after a downgrade)
 * lists routes this version may not understand: it is left as it is,
 * routes and file, and the start fails naming the file and the format. */
static void test_newer_state_file(void)
{
	static const char newer[] =
		"ztun-ref-routes 2\n"
		"pid 1\n"
		"route 192.0.2.10/32 via 10.0.2.2 dev eth0 table 100\n";
	static struct zr_autoroute ar;
	struct fixture f;
	char text[512], log[2048];
	int rc;

	fixture_init(&f);
	put_file(f.path, newer);
	rc = start_logged(&f, &ar);
	CU_ASSERT_EQUAL(rc, -EPROTONOSUPPORT);
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, newer);
	get_file(f.log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, f.path));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "format 2"));
	zr_autoroute_stop(&ar);
	get_file(f.path, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, newer);
	fixture_done(&f);
}

int zt_suite_autoroute(void)
{
	static const struct zt_test_case cases[] = {
		{ "newer state file", test_newer_state_file },
		{ 0 }
	};

	return zt_add_suite("autoroute", NULL, NULL, cases);
}
