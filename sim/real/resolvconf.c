/* SPDX-License-Identifier: MIT */
/*
 * resolvconf.c - the nameservers of resolv.conf(5) text; theory of
 * operation in resolvconf.h.
 */
#include "real/resolvconf.h"

#include <string.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next blank-separated word of [*p, end) into @buf (@cap bytes, NUL
 * ended); false when there is none or it does not fit. */
static bool next_word(const char **p, const char *end, char *buf, size_t cap)
{
	const char *s = *p, *w;

	while (s < end && is_blank(*s))
		s++;
	w = s;
	while (s < end && !is_blank(*s) && *s != '#' && *s != ';' && *s)
		s++;
	*p = s;
	if (s == w || (size_t)(s - w) >= cap)
		return false;
	memcpy(buf, w, (size_t)(s - w));
	buf[s - w] = '\0';
	return true;
}

/* One "nameserver" line's address, [p, end), into @ns. */
static bool parse_line(const char *p, const char *end, struct zr_nameserver *ns)
{
	char word[sizeof(ns->text)];
	char *zone;

	/* the resolver takes a keyword at the line's start only */
	if (p < end && is_blank(*p))
		return false;
	if (!next_word(&p, end, word, sizeof(word)) || strcmp(word, "nameserver"))
		return false;
	if (!next_word(&p, end, word, sizeof(word)))
		return false;
	memset(ns, 0, sizeof(*ns));
	strcpy(ns->text, word);
	zone = strchr(word, '%');
	if (zone) {
		*zone++ = '\0';
		if (!*zone || strlen(zone) >= sizeof(ns->zone))
			return false;
		strcpy(ns->zone, zone);
	}
	if (zt_addr_parse(word, &ns->addr) != 0)
		return false;
	return !zone || ns->addr.family == ZT_AF_INET6;
}

int zr_resolv_nameservers(const char *text, size_t len,
			  struct zr_nameserver *out, int max)
{
	const char *p = text, *end = text + len;
	int n = 0;

	if (max > ZR_RESOLV_MAX)
		max = ZR_RESOLV_MAX;  /* the resolver ignores the rest */

	while (p < end && n < max) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if (parse_line(p, eol, &out[n]))
			n++;
		p = nl ? nl + 1 : end;
	}
	return n;
}
