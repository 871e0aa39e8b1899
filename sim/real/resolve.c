/* SPDX-License-Identifier: MIT */
/*
 * resolve.c - proxy host names to addresses (resolve.h has the theory).
 */
#include "real/resolve.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A lookup: the loop's and the thread's, freed by the last to let go. */
struct zr_lookup {
	atomic_int refs;
	atomic_bool done;              /* the thread filled job[] */
	int efd;                       /* written once done */
	unsigned n;
	struct zr_resolve_job job[ZR_RESOLVE_MAX];
};

int zr_resolve_name(const char *name, struct sockaddr_storage *out)
{
	const struct addrinfo hints = { .ai_family = AF_UNSPEC,
					.ai_socktype = SOCK_STREAM,
					.ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *pick;
	int err = getaddrinfo(name, NULL, &hints, &res);

	if (err)
		return err;
	for (pick = res; pick->ai_next && pick->ai_family != AF_INET;)
		pick = pick->ai_next;
	if (pick->ai_family != AF_INET)
		pick = res;
	if (pick->ai_addrlen > sizeof(*out) ||
	    (pick->ai_family != AF_INET && pick->ai_family != AF_INET6)) {
		err = EAI_FAMILY;
	} else {
		memset(out, 0, sizeof(*out));
		memcpy(out, pick->ai_addr, pick->ai_addrlen);
	}
	freeaddrinfo(res);
	return err;
}

static void lookup_put(struct zr_lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	close(l->efd);
	free(l);
}

static void *lookup_thread(void *arg)
{
	struct zr_lookup *l = arg;
	uint64_t one = 1;
	ssize_t w;

	for (unsigned i = 0; i < l->n; i++)
		l->job[i].err = zr_resolve_name(l->job[i].name, &l->job[i].addr);
	atomic_store(&l->done, true);
	w = write(l->efd, &one, sizeof(one)); /* fails only at 2^64 - 1 */
	(void)w;
	lookup_put(l);
	return NULL;
}

int zr_resolver_start(struct zr_resolver *rs, const char *const names[],
		      unsigned n)
{
	struct zr_lookup *l;
	pthread_attr_t attr;
	pthread_t th;
	int err;

	if (rs->cur)
		return -EBUSY;
	if (n > ZR_RESOLVE_MAX)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		err = -errno;
		free(l);
		return err;
	}
	l->n = n;
	for (unsigned i = 0; i < n; i++)
		snprintf(l->job[i].name, sizeof(l->job[i].name), "%s", names[i]);
	atomic_init(&l->refs, 2);
	atomic_init(&l->done, false);
	err = pthread_attr_init(&attr);
	if (!err) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&th, &attr, lookup_thread, l);
		pthread_attr_destroy(&attr);
	}
	if (err) {
		close(l->efd);
		free(l);
		return -err;
	}
	rs->cur = l;
	return 0;
}

int zr_resolver_fd(const struct zr_resolver *rs)
{
	return rs->cur ? rs->cur->efd : -1;
}

unsigned zr_resolver_take(struct zr_resolver *rs, struct zr_resolve_job *out)
{
	struct zr_lookup *l = rs->cur;
	unsigned n;

	if (!l || !atomic_load(&l->done))
		return 0;
	n = l->n;
	memcpy(out, l->job, n * sizeof(*out));
	rs->cur = NULL;
	lookup_put(l);
	return n;
}

void zr_resolver_free(struct zr_resolver *rs)
{
	if (rs->cur)
		lookup_put(rs->cur);
	rs->cur = NULL;
}
