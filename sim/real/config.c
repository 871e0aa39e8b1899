/* SPDX-License-Identifier: MIT */
/*
 * config.c - parse the ztun-ref command line (docs/cli.md, section
 * ztun-ref) into a struct zr_config.
 *
 * Theory of operation: getopt_long() in one pass records every flag; rule
 * sources (--rule, --rules, --default) are remembered in command-line order
 * because their order matters. A second step checks what depends on other
 * flags (a decision that needs a proxy that was not given) and builds the
 * rule table: initial default (socks5 > http > direct by the proxies
 * given), the rule sources in order, then the final UDP rule. Every error
 * prints one line "ztun-ref: FLAG: problem" and makes the caller exit 2.
 */
#include "real/config.h"
#include "real/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char zr_usage[] =
	"usage: ztun-ref [OPTIONS]\n"
	"\n"
	"Create a TUN device and forward every TCP and UDP flow routed into it\n"
	"directly, through a SOCKS5 proxy or through an HTTP CONNECT proxy, as\n"
	"the rules decide. Runs until SIGINT or SIGTERM; SIGUSR1 prints\n"
	"statistics; SIGHUP reads the rules (--rules files) again and looks\n"
	"proxies given by name up again.\n"
	"\n"
	"TUN device:\n"
	"  -n, --tun-name NAME     interface name (default ztun0)\n"
	"  -i, --tun-ip ADDR       IPv4 address (default 10.0.0.1)\n"
	"  -p, --prefix N          IPv4 prefix length, 1..32 (default 24)\n"
	"      --tun-ip6 ADDR/N    also an IPv6 address, prefix length 1..128\n"
	"  -m, --tun-mtu N         MTU, 1280..65535 (default 1500)\n"
	"      --tun-fd N          use the inherited TUN descriptor N as is and\n"
	"                          configure nothing (-n -i -p --tun-ip6 unused;\n"
	"                          --kill-switch, --txqueuelen, --multi-queue\n"
	"                          and --no-offload refused)\n"
	"      --txqueuelen N      packets the kernel queues on the device for\n"
	"                          ztun-ref to read, 1..65536 (default 1000; a\n"
	"                          TUN's own is 500): what a burst can queue\n"
	"                          while ztun-ref is busy\n"
	"      --multi-queue       create the device with IFF_MULTI_QUEUE\n"
	"      --no-offload        no IFF_VNET_HDR: no TSO/GSO or checksum\n"
	"                          offload between ztun and the kernel\n"
	"\n"
	"Upstreams:\n"
	"  -x, --proxy PROXY       socks5://[USER:PASS@]HOST:PORT,\n"
	"                          http://[USER:PASS@]HOST:PORT, or HOST:PORT\n"
	"                          (SOCKS5); HOST is an IP address (IPv6 in\n"
	"                          brackets) or a name, resolved at start and\n"
	"                          on SIGHUP (or every --proxy-refresh);\n"
	"                          at most one SOCKS5 and one HTTP proxy\n"
	"                          (USER and PASS percent-decoded: %40 is '@',\n"
	"                          %3A ':', %25 '%')\n"
	"      --proxy-refresh SEC  look proxies given by name up again every\n"
	"                          SEC seconds, 1..86400 (default: on SIGHUP only)\n"
	"  -e, --egress IFACE      interface of direct traffic (default: that of\n"
	"                          the default route)\n"
	"      --socks5-pipelined  send the SOCKS5 greeting, credentials and\n"
	"                          request at once: one round trip per connection\n"
	"                          instead of two or three (the proxy must read\n"
	"                          ahead: danted does, microsocks does not)\n"
	"      --early-synack      answer a SYN once the upstream socket exists,\n"
	"                          not once the destination accepted: one TUN\n"
	"                          round trip less per connection, but a refused\n"
	"                          destination shows as a reset after connect\n"
	"      --udp-full-cone     pass a client socket the datagrams any server\n"
	"                          sends to its mapping (direct, nat) or its\n"
	"                          SOCKS5 relay forwards, not only those from\n"
	"                          servers it sent to (an \"open NAT\" for P2P\n"
	"                          and games)\n"
	"      --mark N            SO_MARK of every upstream socket, 0..4294967295\n"
	"      --max-flows N       concurrent TCP flows, 1..65536 (default 16384;\n"
	"                          each needs a descriptor: RLIMIT_NOFILE is\n"
	"                          raised for them, up to its hard limit)\n"
	"      --max-udp-flows N   concurrent UDP flows (and NAT sessions),\n"
	"                          1..65536 (default 8192; a client socket's\n"
	"                          flows share one descriptor)\n"
	"      --tcp-buffer BYTES  each TCP flow's receive and send ring,\n"
	"                          4096..16777216 (default 262144): the most a\n"
	"                          flow holds each way, and so with --max-flows\n"
	"                          the bound on ring memory (a phone: 65536)\n"
	"      --auto-route        route everything into the TUN (0.0.0.0/1,\n"
	"                          128.0.0.0/1, and ::/1, 8000::/1 with --tun-ip6)\n"
	"                          and each proxy address around it; removed at\n"
	"                          exit, or at the next start after a crash\n"
	"      --kill-switch       make the TUN persistent: should ztun-ref die\n"
	"                          (SIGKILL, a crash), the device and the routes\n"
	"                          into it stay, so traffic is dropped instead of\n"
	"                          leaking; with --auto-route IPv6 is routed in\n"
	"                          even without --tun-ip6. An exit lifts it; a\n"
	"                          start that fails leaves one it found as it\n"
	"                          was\n"
	"      --state-dir DIR     where --auto-route keeps TUN-NAME.routes\n"
	"                          (default /run/ztun as root, else\n"
	"                          $XDG_RUNTIME_DIR/ztun)\n"
	"\n"
	"Routing (docs/rules.md):\n"
	"      --rule RULE         a route rule; repeatable, the first match decides\n"
	"      --rules FILE        rules from FILE, one per line, '#' comments\n"
	"      --default DECISION  when no rule matches: direct, socks5, http,\n"
	"                          drop, reject, local or nat (default: socks5\n"
	"                          with a SOCKS5 proxy, else http with an HTTP\n"
	"                          proxy, else direct)\n"
	"      --udp MODE          UDP that no rule matched: socks5, nat, direct\n"
	"                          or drop (default: socks5 with a SOCKS5 proxy,\n"
	"                          else drop)\n"
	"\n"
	"Fake-IP DNS (remote DNS through the proxy):\n"
	"      --fake-dns ADDR[,ADDR]  answer DNS queries to ADDR (an IPv4 and/or\n"
	"                          an IPv6 address, UDP port 53) with fake\n"
	"                          addresses, and send flows to them to the\n"
	"                          proxy by name (needs -x)\n"
	"      --fake-ip-range CIDR  IPv4 fake addresses (default 198.18.0.0/15)\n"
	"      --fake-ip6-range CIDR  IPv6 fake addresses (default none: AAAA\n"
	"                          queries get no address)\n"
	"      --fake-dns-names N  names that keep their address, 1..4194304\n"
	"                          (default 65536); past them the least\n"
	"                          recently used gives its address up (never\n"
	"                          one an open flow goes by)\n"
	"      --fake-dns-upstream ADDR[:PORT]  a real resolver (port 53 by\n"
	"                          default; IPv6 in brackets) for the names\n"
	"                          rules send direct; their flows are routed\n"
	"                          by name too (else such names are REFUSED)\n"
	"\n"
	"DNS over TCP (remote DNS through any proxy):\n"
	"      --dns-over-tcp      UDP to port 53 goes to the proxy as DNS over\n"
	"                          TCP (RFC 7766), unless a rule before sends\n"
	"                          it elsewhere: through a SOCKS5 proxy without\n"
	"                          UDP ASSOCIATE (microsocks) or an HTTP proxy;\n"
	"                          so does UDP to port 53 that a rule sends to\n"
	"                          a proxy (needs -x). Without it, DNS through\n"
	"                          a SOCKS5 proxy goes over TCP once the proxy\n"
	"                          refused a UDP ASSOCIATE (reply 7), the query\n"
	"                          that met the refusal included\n"
	"      --no-dns-tcp-fallback  refuse that DNS with ICMP, as other UDP\n"
	"\n"
	"      --busy-poll USEC    before the event loop sleeps, poll for up to\n"
	"                          USEC microseconds, 0..1000 (default 0: off),\n"
	"                          8 times per new upstream socket: less latency\n"
	"                          where waking a sleeping thread is slow, for\n"
	"                          more CPU per connection\n"
	"      --connect-timeout SEC  how long a new TCP flow waits for its\n"
	"                          upstream to connect (and a proxy to\n"
	"                          answer) before its client gets a reset,\n"
	"                          1..300 (default 10); a SOCKS5 UDP\n"
	"                          association and a DNS-over-TCP stream get\n"
	"                          as long\n"
	"      --tcp-idle-timeout SEC  reset a TCP flow both ways after SEC\n"
	"                          seconds without a segment from the client,\n"
	"                          1..604800 (default 7440: 2 h 4 min, what\n"
	"                          RFC 5382 asks of a NAT)\n"
	"      --upstream-keepalive SEC  once a relayed flow's client sends a\n"
	"                          TCP keepalive probe, and for every SOCKS5\n"
	"                          UDP association's control connection, probe\n"
	"                          the upstream after SEC seconds of silence,\n"
	"                          4 probes SEC/4 (at least 1) seconds apart:\n"
	"                          a dead upstream resets the client (ends the\n"
	"                          association) SEC plus 4 intervals later,\n"
	"                          0..7200 (default 60: 2 minutes; 0: off)\n"
	"      --tcp-evict-idle SEC  with the flow table or the ring budget\n"
	"                          full, or out of descriptors, a new flow\n"
	"                          takes the place of the TCP flow idle\n"
	"                          longest if it has been idle SEC seconds or\n"
	"                          more, 0..604800 (default 300; 0: refuse the\n"
	"                          new one)\n"
	"      --udp-idle-timeout SEC  end a UDP flow after SEC seconds without\n"
	"                          a datagram either way, 1..604800 (default 30)\n"
	"      --udp-stream-timeout SEC  the same for a stream: a flow with\n"
	"                          datagrams both ways still active 2 s after it\n"
	"                          began (a call, a game, a tunnel), 1..604800\n"
	"                          (default 120; never below --udp-idle-timeout)\n"
	"      --udp-evict-idle SEC  with the UDP table full, or out of\n"
	"                          descriptors, a new flow takes the place of\n"
	"                          the UDP flow closest to its timeout if it\n"
	"                          has been idle SEC seconds or more, before\n"
	"                          any TCP flow, 0..604800 (default 10; 0: never)\n"
	"      --udp-rcvbuf BYTES  receive buffer of each upstream UDP socket,\n"
	"                          0 (the kernel's default) or 65536..67108864\n"
	"                          (default 1048576; past net.core.rmem_max\n"
	"                          when running as root): what a burst can\n"
	"                          queue while ztun-ref is busy\n"
	"      --stats-file PATH   also write the statistics to PATH in the\n"
	"                          Prometheus text format (node_exporter's\n"
	"                          textfile collector reads it), replaced\n"
	"                          whole at start, every --stats-interval, on\n"
	"                          SIGUSR1 and at exit\n"
	"      --stats-interval SEC  how often, 1..86400 (default 15)\n"
	"  -d, --debug             log debug messages too\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"exit status: 0 stopped by SIGINT or SIGTERM, 1 runtime error (no\n"
	"privilege, TUN or network setup failed), 2 usage error.\n";

enum {
	OPT_TUN_IP6 = 256,
	OPT_TUN_FD,
	OPT_MULTI_QUEUE,
	OPT_NO_OFFLOAD,
	OPT_MARK,
	OPT_MAX_FLOWS,
	OPT_RULE,
	OPT_RULES,
	OPT_DEFAULT,
	OPT_UDP,
	OPT_VERSION,
	OPT_AUTO_ROUTE,
	OPT_STATE_DIR,
	OPT_KILL_SWITCH,
	OPT_SOCKS5_PIPELINED,
	OPT_EARLY_SYNACK,
	OPT_UDP_FULL_CONE,
	OPT_DNS_OVER_TCP,
	OPT_NO_DNS_TCP_FALLBACK,
	OPT_BUSY_POLL,
	OPT_UDP_RCVBUF,
	OPT_TXQUEUELEN,
	OPT_CONNECT_TIMEOUT,
	OPT_TCP_IDLE_TIMEOUT,
	OPT_TCP_EVICT_IDLE,
	OPT_UPSTREAM_KEEPALIVE,
	OPT_MAX_UDP_FLOWS,
	OPT_UDP_EVICT_IDLE,
	OPT_UDP_IDLE_TIMEOUT,
	OPT_UDP_STREAM_TIMEOUT,
	OPT_FAKE_DNS,
	OPT_FAKE_IP_RANGE,
	OPT_FAKE_IP6_RANGE,
	OPT_FAKE_DNS_NAMES,
	OPT_FAKE_DNS_UPSTREAM,
	OPT_TCP_BUFFER,
	OPT_STATS_FILE,
	OPT_STATS_INTERVAL,
	OPT_PROXY_REFRESH,
};

static const struct option long_opts[] = {
	{ "tun-name", required_argument, NULL, 'n' },
	{ "tun-ip", required_argument, NULL, 'i' },
	{ "prefix", required_argument, NULL, 'p' },
	{ "tun-mtu", required_argument, NULL, 'm' },
	{ "proxy", required_argument, NULL, 'x' },
	{ "egress", required_argument, NULL, 'e' },
	{ "debug", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "tun-ip6", required_argument, NULL, OPT_TUN_IP6 },
	{ "tun-fd", required_argument, NULL, OPT_TUN_FD },
	{ "multi-queue", no_argument, NULL, OPT_MULTI_QUEUE },
	{ "no-offload", no_argument, NULL, OPT_NO_OFFLOAD },
	{ "mark", required_argument, NULL, OPT_MARK },
	{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
	{ "max-udp-flows", required_argument, NULL, OPT_MAX_UDP_FLOWS },
	{ "tcp-buffer", required_argument, NULL, OPT_TCP_BUFFER },
	{ "rule", required_argument, NULL, OPT_RULE },
	{ "rules", required_argument, NULL, OPT_RULES },
	{ "default", required_argument, NULL, OPT_DEFAULT },
	{ "udp", required_argument, NULL, OPT_UDP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "auto-route", no_argument, NULL, OPT_AUTO_ROUTE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "kill-switch", no_argument, NULL, OPT_KILL_SWITCH },
	{ "socks5-pipelined", no_argument, NULL, OPT_SOCKS5_PIPELINED },
	{ "early-synack", no_argument, NULL, OPT_EARLY_SYNACK },
	{ "udp-full-cone", no_argument, NULL, OPT_UDP_FULL_CONE },
	{ "dns-over-tcp", no_argument, NULL, OPT_DNS_OVER_TCP },
	{ "no-dns-tcp-fallback", no_argument, NULL, OPT_NO_DNS_TCP_FALLBACK },
	{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
	{ "udp-rcvbuf", required_argument, NULL, OPT_UDP_RCVBUF },
	{ "txqueuelen", required_argument, NULL, OPT_TXQUEUELEN },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "tcp-idle-timeout", required_argument, NULL, OPT_TCP_IDLE_TIMEOUT },
	{ "tcp-evict-idle", required_argument, NULL, OPT_TCP_EVICT_IDLE },
	{ "upstream-keepalive", required_argument, NULL, OPT_UPSTREAM_KEEPALIVE },
	{ "udp-evict-idle", required_argument, NULL, OPT_UDP_EVICT_IDLE },
	{ "udp-idle-timeout", required_argument, NULL, OPT_UDP_IDLE_TIMEOUT },
	{ "udp-stream-timeout", required_argument, NULL, OPT_UDP_STREAM_TIMEOUT },
	{ "fake-dns", required_argument, NULL, OPT_FAKE_DNS },
	{ "fake-ip-range", required_argument, NULL, OPT_FAKE_IP_RANGE },
	{ "fake-ip6-range", required_argument, NULL, OPT_FAKE_IP6_RANGE },
	{ "fake-dns-names", required_argument, NULL, OPT_FAKE_DNS_NAMES },
	{ "fake-dns-upstream", required_argument, NULL, OPT_FAKE_DNS_UPSTREAM },
	{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "proxy-refresh", required_argument, NULL, OPT_PROXY_REFRESH },
	{ NULL, 0, NULL, 0 },
};

/* A rule source, in command-line order. */
struct zr_rule_src {
	int kind;         /* OPT_RULE, OPT_RULES or OPT_DEFAULT */
	const char *arg;  /* borrowed from argv */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ztun-ref: %s\n", msg);
	fprintf(stderr, "ztun-ref: try 'ztun-ref --help'\n");
	return -EINVAL;
}

/* The long flag the first @n characters of @name stand for: the one of
 * that name, else the only one they begin; NULL when none or several.
 * *@hits: how many they name (2 or more: ambiguous). */
static const struct option *long_flag(const char *name, size_t n,
				      unsigned *hits)
{
	const struct option *hit = NULL;

	*hits = 0;
	for (const struct option *o = long_opts; o->name; o++) {
		if (strncmp(o->name, name, n))
			continue;
		if (strlen(o->name) == n) {
			*hits = 1;
			return o;
		}
		hit = o;
		(*hits)++;
	}
	return *hits == 1 ? hit : NULL;
}

/* @arg, "--NAME[=VALUE]", when NAME begins two or more long flags and is
 * none of them: says so, naming them, and returns 0; else -ENOENT. */
static int ambiguous_flag(const char *arg)
{
	char names[400] = "";
	size_t n, len = 0;
	unsigned hits;

	if (strncmp(arg, "--", 2))
		return -ENOENT;
	arg += 2;
	n = strcspn(arg, "=");
	if (long_flag(arg, n, &hits) || hits < 2)
		return -ENOENT;
	for (const struct option *o = long_opts; o->name; o++)
		if (!strncmp(o->name, arg, n) && len < sizeof(names))
			len += (size_t)snprintf(names + len, sizeof(names) - len,
						"%s--%s", len ? ", " : "", o->name);
	usage_error("ambiguous flag '--%.*s' (%s)", (int)n, arg, names);
	return 0;
}

/* @arg, "--NAME=VALUE", when NAME is (or alone begins) a long flag that
 * takes no value: says so, naming it, and returns 0; else -ENOENT.
 * (getopt_long() reports it as it reports an unknown flag.) */
static int flag_takes_no_value(const char *arg)
{
	const struct option *hit;
	const char *eq;
	unsigned hits;

	if (strncmp(arg, "--", 2) || !(eq = strchr(arg + 2, '=')))
		return -ENOENT;
	arg += 2;
	hit = long_flag(arg, (size_t)(eq - arg), &hits);
	if (!hit || hit->has_arg != no_argument)
		return -ENOENT;
	usage_error("--%s: takes no value (in '--%s')", hit->name, arg);
	return 0;
}

/* @s as a decimal (or 0x hex) number in [@min, @max]; 0 or -EINVAL. */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		/* a digit first: strtoull would take "", blanks or a sign */
		if (!isxdigit((unsigned char)s[2]))
			return -EINVAL;
		v = strtoull(s + 2, &end, 16);
	} else {
		v = strtoull(s, &end, 10);
	}
	if (errno || *end || end == s || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "ADDR/N" for --tun-ip6. */
static int parse_ip6_prefix(const char *s, struct zt_addr *a, uint8_t *len)
{
	char buf[ZT_ADDR_STRLEN + 8];
	const char *slash = strchr(s, '/');
	uint64_t v;

	if (!slash || (size_t)(slash - s) >= ZT_ADDR_STRLEN)
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	if (zt_addr_parse(buf, a) || a->family != ZT_AF_INET6 ||
	    parse_num(slash + 1, 1, 128, &v))
		return -EINVAL;
	*len = (uint8_t)v;
	return 0;
}

/* Whether @host, not an IP address, is a host name getaddrinfo() looks
 * up as one: not an inet_aton() form (999, 127.1, 0x7f000001, 1.2.3.0x4:
 * getaddrinfo would take it as an address) and not a last label all
 * digits (1.2.3.256: no top-level domain is, RFC 3696 2, RFC 1123 2.1). */
static bool proxy_host_name_ok(const char *host)
{
	const char *dot = strrchr(host, '.'), *last = dot ? dot + 1 : host;
	struct in_addr in;

	if (!zt_dns_name_valid(host) || inet_aton(host, &in))
		return false;
	return last[strspn(last, "0123456789")] != 0;
}

/* @text of -x into @out (@cap bytes) as messages show it: the password
 * of USER:PASS@ (to the last '@') as "***", so that a usage error does
 * not put it in a log. */
static void proxy_shown(const char *text, char *out, size_t cap)
{
	const char *p = strstr(text, "://"), *at, *sep;

	/* past a scheme; a "://" after a ':' or '@' is the password's */
	if (p && strcspn(text, ":@") == (size_t)(p - text))
		p += 3;
	else
		p = text;
	at = strrchr(p, '@');
	sep = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (!sep)
		snprintf(out, cap, "%s", text);
	else
		snprintf(out, cap, "%.*s***%s", (int)(sep + 1 - text), text, at);
}

/* Percent-decode (RFC 3986 2.1: "%" and two hex digits, either case)
 * the @len bytes at @s into @out, @cap bytes it owns, terminated.
 * Return: the decoded length; -EINVAL for a '%' without two hex digits
 * after it within @len; -EILSEQ for %00 (the fields are C strings: a NUL
 * would cut them short); -E2BIG past @cap - 1 bytes. */
static ssize_t pct_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			char hex[3] = { 0 };

			if (len - i < 3 || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return -EINVAL;
			memcpy(hex, s + i + 1, 2);
			c = (char)strtoul(hex, NULL, 16);
			if (!c)
				return -EILSEQ;
			i += 2;
		}
		if (n + 1 >= cap)
			return -E2BIG;
		out[n++] = c;
	}
	out[n] = 0;
	return (ssize_t)n;
}

/* Whether the @len bytes at @s hold a control character (or DEL). */
static bool has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* socks5://[u:p@]host:port, http://[u:p@]host:port or host:port; host an
 * IP address or a name (left in c->socks5_host / http_host for main()
 * to resolve). u:p ends at the last '@' and u at the first ':' (Go's
 * net/url, WHATWG), each then percent-decoded as every URL parser does;
 * the host is not. */
static int parse_proxy(struct zr_config *c, const char *text)
{
	struct zt_proxy_config *px = &c->socks5;
	char *name = c->socks5_host;
	const char *kind = "SOCKS5", *p = text, *at, *hp, *colon;
	char host[ZR_HOST_NAME_MAX + 2], shown[ZR_HOST_NAME_MAX + 600];
	size_t hl;
	uint64_t port;

	proxy_shown(text, shown, sizeof(shown));
	text = shown; /* from here on only the messages read it */

	if (!strncmp(p, "socks5://", 9)) {
		p += 9;
	} else if (!strncmp(p, "http://", 7)) {
		p += 7;
		px = &c->http;
		name = c->http_host;
		kind = "HTTP";
	} else if (strstr(p, "://")) {
		return usage_error("--proxy: unknown scheme in '%s' (socks5:// or http://)",
				   text);
	}
	if (px->enabled)
		return usage_error("--proxy: a second %s proxy '%s' (at most one of each kind)",
				   kind, text);
	memset(px, 0, sizeof(*px));
	at = strrchr(p, '@');
	if (at) {
		const char *sep = memchr(p, ':', (size_t)(at - p));
		const char *part = "user name";
		ssize_t ul, pl = 0;

		if (!sep)
			return usage_error("--proxy: credentials in '%s' must be USER:PASS@",
					   text);
		/* split on the raw text, then decode each part */
		ul = pct_decode(p, (size_t)(sep - p), px->username,
				sizeof(px->username));
		if (ul >= 0) {
			part = "password";
			pl = pct_decode(sep + 1, (size_t)(at - sep - 1),
					px->password, sizeof(px->password));
		}
		if (ul == -EINVAL || pl == -EINVAL)
			return usage_error("--proxy: a '%%' not followed by two hex digits in the %s of '%s' (a '%%' itself is written %%25)",
					   part, text);
		if (ul == -EILSEQ || pl == -EILSEQ)
			return usage_error("--proxy: the %s of '%s' holds %%00, a NUL byte, which ztun-ref cannot send",
					   part, text);
		if (ul == 0 || ul == -E2BIG || pl == -E2BIG)
			return usage_error("--proxy: user name must be 1..255 bytes and password at most 255 (once percent-decoded) in '%s'",
					   text);
		/* a Basic token carries no control character (RFC 7617 2) */
		if (px == &c->http && (has_ctl(px->username, (size_t)ul) ||
				       has_ctl(px->password, (size_t)pl)))
			return usage_error("--proxy: HTTP proxy credentials must not contain control characters (RFC 7617)");
		px->auth = true;
		hp = at + 1;
	} else {
		hp = p;
	}
	if (*hp == '[') {
		const char *end = strchr(hp, ']');

		if (!end || end[1] != ':')
			return usage_error("--proxy: expected [IPV6]:PORT in '%s'", text);
		hl = (size_t)(end - hp - 1);
		if (hl >= sizeof(host))
			return usage_error("--proxy: bad address in '%s'", text);
		memcpy(host, hp + 1, hl);
		host[hl] = 0;
		colon = end + 1;
		if (zt_addr_parse(host, &px->server.addr) ||
		    px->server.addr.family != ZT_AF_INET6)
			return usage_error("--proxy: '%s' is not an IPv6 address", host);
	} else {
		colon = strrchr(hp, ':');
		if (!colon)
			return usage_error("--proxy: '%s' has no :PORT", text);
		hl = (size_t)(colon - hp);
		if (hl == 0)
			return usage_error("--proxy: no host in '%s'", text);
		if (hl > ZR_HOST_NAME_MAX)
			return usage_error("--proxy: host longer than %u characters in '%.40s...'",
					   ZR_HOST_NAME_MAX, text);
		memcpy(host, hp, hl);
		host[hl] = 0;
		if (strchr(host, ':'))
			return usage_error("--proxy: IPv6 address '%s' needs brackets: [%s]:PORT",
					   host, host);
		if (zt_addr_parse(host, &px->server.addr)) {
			if (!proxy_host_name_ok(host))
				return usage_error("--proxy: host '%s' is neither an IP address nor a host name (IPv4 in four decimal parts; a name's last label is not all digits)",
						   host);
			memcpy(name, host, hl + 1);
		}
	}
	if (parse_num(colon + 1, 1, 65535, &port))
		return usage_error("--proxy: bad port '%s' in '%s' (1..65535)",
				   colon + 1, text);
	px->server.port = (uint16_t)port;
	px->enabled = true;
	return 0;
}

/* --fake-dns ADDR[,ADDR]: at most one address of each family, and one
 * flag (a second would replace the first's addresses). */
static int parse_fake_dns(struct zr_config *c, const char *text)
{
	char err[128];

	if (c->fake_dns.enabled)
		return usage_error("--fake-dns: a second one, '%s' (give both addresses in one: ADDR,ADDR)",
				   text);
	if (zt_fakedns_parse_servers(text, &c->fake_dns, err, sizeof(err)))
		return usage_error("--fake-dns: %s in '%s'", err, text);
	return 0;
}

/* --fake-dns-upstream ADDR, ADDR:PORT, [IPV6] or [IPV6]:PORT. */
static int parse_fake_upstream(struct zr_config *c, const char *text)
{
	struct zt_endpoint *ep = &c->fake_dns.upstream;
	char host[ZT_ADDR_STRLEN];
	const char *port = NULL, *h = text;
	size_t hl;
	uint64_t v = 53;

	if (*text == '[') {
		const char *end = strchr(text, ']');

		if (!end || (end[1] && end[1] != ':'))
			return usage_error("--fake-dns-upstream: expected [IPV6] or [IPV6]:PORT in '%s'",
					   text);
		h = text + 1;
		hl = (size_t)(end - h);
		if (end[1])
			port = end + 2;
	} else {
		const char *colon = strchr(text, ':');

		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		hl = colon ? (size_t)(colon - text) : strlen(text);
		if (colon)
			port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return usage_error("--fake-dns-upstream: no address in '%s'", text);
	memcpy(host, h, hl);
	host[hl] = 0;
	memset(ep, 0, sizeof(*ep));
	if (zt_addr_parse(host, &ep->addr))
		return usage_error("--fake-dns-upstream: '%s' is not an IP address (names are not resolved)",
				   host);
	if (port && parse_num(port, 1, 65535, &v))
		return usage_error("--fake-dns-upstream: bad port '%s' in '%s' (1..65535)",
				   port, text);
	ep->port = (uint16_t)v;
	return 0;
}

/* The last address of @c. */
static struct zt_addr cidr_last(const struct zt_cidr *c)
{
	struct zt_addr a = c->addr;

	for (unsigned i = c->len; i < zt_addr_len(&a) * 8; i++)
		a.bytes[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	return a;
}

/* Whether @a and @b share an address. */
static bool cidr_overlap(const struct zt_cidr *a, const struct zt_cidr *b)
{
	if (a->addr.family != b->addr.family)
		return false;
	return a->len <= b->len ? zt_cidr_contains(a, &b->addr)
				: zt_cidr_contains(b, &a->addr);
}

/* -i within its -p prefix: not the network's address nor its broadcast
 * address (a /31 or /32 has neither, RFC 3021). */
static int check_tun_ip(const struct zr_config *c)
{
	struct zt_cidr net = zt_cidr_network(&c->tun_ip, c->prefix);
	struct zt_addr last = cidr_last(&net);
	char a[ZT_ADDR_STRLEN], n[ZT_ADDR_STRLEN];
	const char *what;

	if (c->prefix >= 31)
		return 0;
	if (zt_addr_eq(&c->tun_ip, &net.addr))
		what = "network";
	else if (zt_addr_eq(&c->tun_ip, &last))
		what = "broadcast";
	else
		return 0;
	return usage_error("--tun-ip: %s is the %s address of %s/%u (-p)",
			   zt_addr_format(&c->tun_ip, a, sizeof(a)), what,
			   zt_addr_format(&net.addr, n, sizeof(n)), net.len);
}

/* --fake-ip-range / --fake-ip6-range CIDR into @pool, of @family: no
 * wider than ZR_FAKE_IP_PREFIX_MIN / ZR_FAKE_IP6_PREFIX_MIN, and from
 * first to last addresses a host may have (zt_addr_is_host: with such
 * prefixes the ends tell). */
static int parse_fake_range(struct zt_cidr *pool, uint8_t family,
			    const char *flag, const char *text)
{
	unsigned min = family == ZT_AF_INET ? ZR_FAKE_IP_PREFIX_MIN
					    : ZR_FAKE_IP6_PREFIX_MIN;
	struct zt_addr last;
	char err[128];

	if (zt_cidr_parse(text, pool, err, sizeof(err)))
		return usage_error("%s: '%s': %s", flag, text, err);
	if (pool->addr.family != family)
		return usage_error("%s: '%s' is not an IPv%c prefix", flag, text,
				   family == ZT_AF_INET ? '4' : '6');
	if (pool->len < min)
		return usage_error("%s: '%s' is wider than /%u", flag, text, min);
	last = cidr_last(pool);
	if (!zt_addr_is_host(&pool->addr) || !zt_addr_is_host(&last))
		return usage_error("%s: '%s' holds addresses no host has (unspecified, loopback, multicast or broadcast)",
				   flag, text);
	return 0;
}

/* A fake range @pool (of @flag) must not overlap the TUN's subnet
 * @tun/@len (of @tun_flags). */
static int check_fake_overlap(const struct zt_cidr *pool, const char *flag,
			      const struct zt_addr *tun, uint8_t len,
			      const char *tun_flags)
{
	struct zt_cidr net = zt_cidr_network(tun, len);
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	if (!cidr_overlap(pool, &net))
		return 0;
	return usage_error("%s: %s/%u overlaps the TUN's subnet %s/%u (%s)", flag,
			   zt_addr_format(&pool->addr, a, sizeof(a)), pool->len,
			   zt_addr_format(&net.addr, b, sizeof(b)), net.len,
			   tun_flags);
}

/* The --fake-dns addresses, which a client's query must reach the TUN
 * at: one no host has is never routed there, and the TUN's own address
 * is local (the kernel answers a query to it itself, refused). With
 * --tun-fd the device's addresses are the parent's. */
static int check_fake_servers(const struct zr_config *c)
{
	char a[ZT_ADDR_STRLEN];

	for (unsigned i = 0; i < 2; i++) {
		const struct zt_addr *srv = &c->fake_dns.server[i];
		const struct zt_addr *own = i ? &c->tun_ip6 : &c->tun_ip;

		if (!srv->family)
			continue;
		zt_addr_format(srv, a, sizeof(a));
		if (!zt_addr_is_host(srv))
			return usage_error("--fake-dns: %s is not an address a host may have (unspecified, loopback, multicast or broadcast): no query to it reaches the TUN",
					   a);
		if (c->tun_fd < 0 && (!i || c->have_ip6) && zt_addr_eq(srv, own))
			return usage_error("--fake-dns: %s is the TUN's own address (%s): the kernel answers queries to it itself, they never reach the TUN; give another address of its subnet",
					   a, i ? "--tun-ip6" : "-i");
	}
	return 0;
}

/* What the --fake-* flags need of each other and of the rest. */
static int check_fake_dns(const struct zr_config *c, const char *range_flag)
{
	const struct zt_fakedns_config *fc = &c->fake_dns;
	char err[160], a[ZT_ADDR_STRLEN];
	const struct zt_cidr *pool;

	if (!fc->enabled) {
		if (range_flag)
			return usage_error("%s: only with --fake-dns", range_flag);
		return 0;
	}
	if (!c->socks5.enabled && !c->http.enabled)
		return usage_error("--fake-dns: fake addresses go to a proxy by name: give -x");
	/* the families were checked as the flags were read */
	for (unsigned i = 0; i < 2; i++) {
		pool = i ? &fc->pool6 : &fc->pool4;
		if (!zt_fakedns_pool_fits(pool, i ? ZT_AF_INET6 : ZT_AF_INET,
					  fc->max_names))
			return usage_error("%s: %s/%u holds fewer than --fake-dns-names %u + 2 addresses",
					   i ? "--fake-ip6-range" : "--fake-ip-range",
					   zt_addr_format(&pool->addr, a, sizeof(a)),
					   pool->len, fc->max_names);
	}
	/* with --tun-fd the device's addresses are not ours to know */
	if (c->tun_fd < 0 &&
	    (check_fake_overlap(&fc->pool4, "--fake-ip-range", &c->tun_ip,
				c->prefix, "-i, -p") ||
	     (c->have_ip6 &&
	      check_fake_overlap(&fc->pool6, "--fake-ip6-range", &c->tun_ip6,
				 c->prefix6, "--tun-ip6"))))
		return -EINVAL;
	if (check_fake_servers(c))
		return -EINVAL;
	switch (zt_fakedns_config_check(fc, err, sizeof(err))) {
	case 0:
		return 0;
	case -ENOSPC:
		return usage_error("--fake-dns-names %u: %s", fc->max_names, err);
	default:
		return usage_error("--fake-dns: %s", err);
	}
}

/* Whether @a is in @net (of @len bits): then into @why, "in the TUN's
 * subnet NET/LEN (@flags)". */
static bool in_net(const struct zt_addr *a, const struct zt_addr *net,
		   uint8_t len, const char *what, const char *flags, char *why,
		   size_t cap)
{
	struct zt_cidr c = zt_cidr_network(net, len);
	char n[ZT_ADDR_STRLEN];

	if (!zt_cidr_contains(&c, a))
		return false;
	snprintf(why, cap, "in %s %s/%u (%s)", what,
		 zt_addr_format(&c.addr, n, sizeof(n)), c.len, flags);
	return true;
}

/**
 * zr_config_proxy_loops() - whether routes of ztun-ref's own take @a into
 * the TUN: its subnets (-i/-p, --tun-ip6; the parent's with --tun-fd,
 * not known) and the fake ranges and resolver (routed there by ztun-ref,
 * or by the parent with --tun-fd). A proxy there would have its
 * connection come back through the TUN, to be proxied again, and so on.
 * The TUN's own address is a local one: not taken there.
 * @c: the configuration
 * @a: a proxy's address
 * @why: filled with what takes it there when so ("in the TUN's subnet
 *       10.0.0.0/24 (-i, -p)")
 * @cap: its size
 *
 * Return: true if so.
 */
bool zr_config_proxy_loops(const struct zr_config *c, const struct zt_addr *a,
			   char *why, size_t cap)
{
	const struct zt_fakedns_config *fc = &c->fake_dns;

	if (c->tun_fd < 0 && a->family == ZT_AF_INET &&
	    !zt_addr_eq(a, &c->tun_ip) &&
	    in_net(a, &c->tun_ip, c->prefix, "the TUN's subnet", "-i, -p", why, cap))
		return true;
	if (c->tun_fd < 0 && c->have_ip6 && a->family == ZT_AF_INET6 &&
	    !zt_addr_eq(a, &c->tun_ip6) &&
	    in_net(a, &c->tun_ip6, c->prefix6, "the TUN's subnet", "--tun-ip6",
		   why, cap))
		return true;
	if (!fc->enabled)
		return false;
	for (unsigned i = 0; i < 2; i++) {
		const struct zt_cidr *pool = i ? &fc->pool6 : &fc->pool4;

		if (pool->addr.family == a->family &&
		    in_net(a, &pool->addr, pool->len, "the fake range",
			   i ? "--fake-ip6-range" : "--fake-ip-range", why, cap))
			return true;
		if (zt_addr_eq(a, &fc->server[i])) {
			snprintf(why, cap, "the fake resolver's address (--fake-dns)");
			return true;
		}
	}
	return false;
}

const char *zr_config_proxy_unusable(const struct zt_addr *a)
{
	const uint8_t *b = a->bytes;
	static const uint8_t zero[16];

	if (a->family == ZT_AF_INET) {
		if (!memcmp(b, zero, 4))
			return "the unspecified address";
		if ((b[0] & 0xf0) == 0xe0)
			return "a multicast address";
		if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
			return "the broadcast address";
		return NULL;
	}
	if (!memcmp(b, zero, 16))
		return "the unspecified address";
	if (b[0] == 0xff)
		return "a multicast address";
	/* no zone can be given (nor is one kept from a lookup): a
	 * link-local address names no interface to reach it on */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "a link-local address without a zone";
	return NULL;
}

/* Each proxy given by address: one a connection can go to, and not one
 * ztun-ref routes into the TUN (those given by name are looked up at
 * start: ztun_ref.c). */
static int check_proxy_loops(const struct zr_config *c)
{
	const struct zt_proxy_config *px[2] = { &c->socks5, &c->http };
	char a[ZT_ADDR_STRLEN], why[128];
	const char *bad;

	for (unsigned i = 0; i < 2; i++) {
		if (!px[i]->enabled || (i ? c->http_host : c->socks5_host)[0])
			continue;
		bad = zr_config_proxy_unusable(&px[i]->server.addr);
		if (bad)
			return usage_error("--proxy: %s is %s: no connection to a proxy can go there",
					   zt_addr_format(&px[i]->server.addr, a, sizeof(a)),
					   bad);
		if (zr_config_proxy_loops(c, &px[i]->server.addr, why, sizeof(why)))
			return usage_error("--proxy: %s is %s, routed into the TUN: the connections to the proxy would loop through it",
					   zt_addr_format(&px[i]->server.addr, a, sizeof(a)),
					   why);
	}
	return 0;
}

/* --state-dir DIR, each one given: a name that fits, into c->state_dir. */
static int check_state_dir(struct zr_config *c, const char *dir)
{
	if (!*dir)
		return usage_error("--state-dir: empty directory name");
	if ((size_t)snprintf(c->state_dir, sizeof(c->state_dir), "%s", dir) >=
	    sizeof(c->state_dir))
		return usage_error("--state-dir: '%.64s...' is too long", dir);
	return 0;
}

/* --state-dir, or its default with --auto-route: /run/ztun as root, else
 * $XDG_RUNTIME_DIR/ztun. Also checks what --auto-route cannot go with. */
static int set_state_dir(struct zr_config *c, const char *dir)
{
	char path[ZR_STATE_PATH_MAX];
	const char *xdg;

	if (dir && !c->auto_route)
		return usage_error("--state-dir: only with --auto-route");
	if (!c->auto_route)
		return 0;
	if (c->tun_fd >= 0)
		return usage_error("--auto-route: not with --tun-fd (the parent owns that device's routing)");
	if (dir) {
		if (check_state_dir(c, dir))
			return -EINVAL;
	} else if (geteuid() == 0) {
		strcpy(c->state_dir, "/run/ztun");
	} else {
		xdg = getenv("XDG_RUNTIME_DIR");
		if (!xdg || !*xdg)
			return usage_error("--auto-route: XDG_RUNTIME_DIR is not set (it holds the state file when not root; or give --state-dir DIR)");
		if ((size_t)snprintf(c->state_dir, sizeof(c->state_dir), "%s/ztun",
				     xdg) >= sizeof(c->state_dir))
			return usage_error("--auto-route: XDG_RUNTIME_DIR '%.64s...' is too long", xdg);
	}
	if (zr_route_state_path(path, sizeof(path), c->state_dir, c->tun_name))
		return usage_error("--state-dir: '%.64s...' is too long", c->state_dir);
	return 0;
}

/* An error in the rules: at start a usage error; on a reload a log line
 * (the rules in effect stay). */
static int rule_error(const struct zr_config *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int rule_error(const struct zr_config *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->rules_reload)
		return usage_error("%s", msg);
	zr_err("%s", msg);
	return -EINVAL;
}

#define ZR_STR_(x) #x
#define ZR_STR(x) ZR_STR_(x)

/* Why zt_rules_add() refused a rule, in the user's words. */
static const char *add_error(int rc)
{
	return rc == -ENOSPC ?
		"too many rules (at most " ZR_STR(ZT_RULES_DEFAULT_MAX)
		", ztun-ref's own included)" : strerror(-rc);
}

static bool decision_ok(const struct zr_config *c, enum zt_route_decision d)
{
	if (d == ZT_ROUTE_SOCKS5)
		return c->socks5.enabled;
	if (d == ZT_ROUTE_HTTP)
		return c->http.enabled;
	return true;
}

static int add_rule(struct zr_config *c, const char *text, const char *where)
{
	struct zt_rule rule;
	char err[256];
	int rc;

	if (zt_rule_parse(text, &rule, err, sizeof(err)))
		return rule_error(c, "%s: bad rule '%s': %s", where, text, err);
	if (!decision_ok(c, rule.decision))
		return rule_error(c, "%s: rule '%s' needs a%s proxy (-x)", where, text,
				   rule.decision == ZT_ROUTE_SOCKS5 ? " SOCKS5" :
				   "n HTTP");
	if (rule.proto == ZT_RULE_UDP && rule.decision == ZT_ROUTE_HTTP &&
	    !c->dns_over_tcp)
		return rule_error(c, "%s: rule '%s': HTTP CONNECT carries UDP only as DNS over TCP (--dns-over-tcp)",
				   where, text);
	rc = zt_rules_add(&c->rules, &rule);
	if (rc)
		return rule_error(c, "%s: rule '%s': %s", where, text, add_error(rc));
	return 0;
}

/* One line of @f, without its newline, into @buf of ZR_RULES_LINE_MAX + 1
 * bytes: 1, or 0 at the end of the file, -E2BIG for a line longer than
 * ZR_RULES_LINE_MAX, -EILSEQ for a NUL byte in it, -EIO on a read error. */
static int read_rules_line(FILE *f, char *buf)
{
	size_t n = 0;
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == 0)
			return -EILSEQ;
		if (n == ZR_RULES_LINE_MAX)
			return -E2BIG;
		buf[n++] = (char)ch;
	}
	buf[n] = 0;
	if (ferror(f))
		return -EIO;
	return ch != EOF || n ? 1 : 0;
}

/* A --rules FILE: a regular file (not a FIFO or a device that never
 * ends), read in whole lines. */
static int add_rules_file(struct zr_config *c, const char *path)
{
	char line[ZR_RULES_LINE_MAX + 1], where[64 + 256];
	unsigned lineno = 0;
	struct stat st;
	int fd, rc = 0;
	FILE *f;

	/* O_NONBLOCK: opening a FIFO does not wait for a writer */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return rule_error(c, "--rules: cannot read '%s': %s", path,
				   strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return rule_error(c, "--rules: '%s' is not a regular file", path);
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return rule_error(c, "--rules: cannot read '%s': %s", path,
				   strerror(errno));
	}
	while (!rc) {
		char *p = line, *e, *hash;
		int got = read_rules_line(f, line);

		if (got == 0)
			break;
		lineno++;
		snprintf(where, sizeof(where), "--rules %s:%u", path, lineno);
		if (got == -E2BIG) {
			rc = rule_error(c, "%s: line too long (more than %d bytes)",
					where, ZR_RULES_LINE_MAX);
			break;
		}
		if (got == -EILSEQ) {
			rc = rule_error(c, "%s: a NUL byte in the line", where);
			break;
		}
		if (got < 0) {
			rc = rule_error(c, "--rules: error reading '%s'", path);
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		e = p + strlen(p);
		while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			rc = add_rule(c, p, where);
	}
	fclose(f);
	return rc;
}

static int set_default(struct zr_config *c, const char *name)
{
	enum zt_route_decision d;
	bool reject;

	if (zt_route_decision_parse(name, &d, &reject))
		return rule_error(c, "--default: unknown decision '%s'", name);
	if (!decision_ok(c, d))
		return rule_error(c, "--default: '%s' needs a%s proxy (-x)", name,
				   d == ZT_ROUTE_SOCKS5 ? " SOCKS5" : "n HTTP");
	zt_rules_set_default(&c->rules, d, reject);
	c->def = d;
	return 0;
}

/* --udp MODE into @d; 0 or -EINVAL. */
static int parse_udp_mode(const char *mode, enum zt_route_decision *d)
{
	static const struct {
		const char *name;
		enum zt_route_decision d;
	} modes[] = {
		{ "socks5", ZT_ROUTE_SOCKS5 },
		{ "nat", ZT_ROUTE_NAT },
		{ "direct", ZT_ROUTE_DIRECT },
		{ "drop", ZT_ROUTE_DROP },
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(mode, modes[i].name)) {
			*d = modes[i].d;
			return 0;
		}
	}
	return -EINVAL;
}

static int build_rules(struct zr_config *c, const struct zr_rule_src *src,
		       int nsrc, const char *udp)
{
	struct zt_rule final;
	int rc;

	if (zt_rules_init(&c->rules, 0))
		return rule_error(c, "no memory for the rule table");
	c->def = c->socks5.enabled ? ZT_ROUTE_SOCKS5 :
		 c->http.enabled ? ZT_ROUTE_HTTP : ZT_ROUTE_DIRECT;
	zt_rules_set_default(&c->rules, c->def, false);
	for (int i = 0; i < nsrc; i++) {
		if (src[i].kind == OPT_RULE)
			rc = add_rule(c, src[i].arg, "--rule");
		else if (src[i].kind == OPT_RULES)
			rc = add_rules_file(c, src[i].arg);
		else
			rc = set_default(c, src[i].arg);
		if (rc)
			goto fail;
	}
	c->def = c->rules.def;
	c->udp = c->socks5.enabled ? ZT_ROUTE_SOCKS5 : ZT_ROUTE_DROP;
	if (udp) {
		if (parse_udp_mode(udp, &c->udp)) {
			rc = rule_error(c, "--udp: unknown mode '%s' (socks5, nat, direct or drop)",
					 udp);
			goto fail;
		}
		if (!decision_ok(c, c->udp)) {
			rc = rule_error(c, "--udp: 'socks5' needs a SOCKS5 proxy (-x)");
			goto fail;
		}
	}
	zt_rule_init(&final);
	final.proto = ZT_RULE_UDP;
	if (c->dns_over_tcp) {
		/* DNS no rule matched: to the proxy, which carries it over TCP */
		final.dport.lo = final.dport.hi = 53;
		final.decision = c->socks5.enabled ? ZT_ROUTE_SOCKS5 : ZT_ROUTE_HTTP;
		rc = zt_rules_add(&c->rules, &final);
		if (rc) {
			rc = rule_error(c, "the DNS rule: %s", add_error(rc));
			goto fail;
		}
		zt_rule_init(&final);
		final.proto = ZT_RULE_UDP;
	}
	final.decision = c->udp;
	rc = zt_rules_add(&c->rules, &final);
	if (rc) {
		rc = rule_error(c, "the final UDP rule: %s", add_error(rc));
		goto fail;
	}
	return 0;
fail:
	zt_rules_destroy(&c->rules);
	return rc;
}

/* --stats-file PATH, each one given: a file name whose directory exists
 * and may be written (the file is replaced through PATH.tmp.XXXXXX
 * there), not a directory's (rename(2) cannot replace one). */
static int check_stats_file(const char *path)
{
	char dir[ZR_STATS_PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!path[0] || (slash && !slash[1]))
		return usage_error("--stats-file: '%s' is no file name", path);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return usage_error("--stats-file: '%s' is a directory", path);
	if (strlen(path) + sizeof(".tmp.XXXXXX") > sizeof(dir))
		return usage_error("--stats-file: '%.64s...' is too long", path);
	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (access(dir, W_OK | X_OK) != 0)
		return usage_error("--stats-file: directory '%s': %s", dir,
				   strerror(errno));
	return 0;
}

/**
 * zr_config_parse() - parse the command line.
 * @c: filled; owns its rule table when ZR_PARSE_RUN is returned
 * @argc: argument count
 * @argv: arguments (borrowed; getopt may permute them)
 *
 * Return: ZR_PARSE_RUN, ZR_PARSE_EXIT (help or version printed), or
 * -EINVAL (the problem was printed).
 */
int zr_config_parse(struct zr_config *c, int argc, char **argv)
{
	struct zr_rule_src *src;
	const char *udp = NULL, *state_dir = NULL, *fake_flag = NULL;
	bool pipelined = false, stats_interval = false, txqueuelen = false;
	uint8_t v4[4] = { 10, 0, 0, 1 };
	int nsrc = 0, opt, rc = -EINVAL;
	uint64_t v;

	memset(c, 0, sizeof(*c));
	strcpy(c->tun_name, "ztun0");
	c->tun_ip = zt_addr_v4(v4);
	c->prefix = 24;
	c->mtu = 1500;
	c->txqueuelen = ZR_TXQUEUELEN_DEFAULT;
	c->max_flows = 16384;
	c->max_udp_flows = 8192;
	c->udp_rcvbuf = ZR_UDP_RCVBUF_DEFAULT;
	c->stats_interval_s = ZR_STATS_INTERVAL_DEFAULT;
	c->offload = true;
	c->tun_fd = -1;
	zt_fakedns_config_default(&c->fake_dns);
	src = calloc((size_t)argc + 1, sizeof(*src));
	if (!src)
		return usage_error("no memory");
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:i:p:m:x:e:dh", long_opts,
				  NULL)) != -1) {
		const char *a = optarg;

		switch (opt) {
		case 'n':
			if (!zr_ifname_ok(a)) {
				usage_error("--tun-name: '%s' is not an interface name (1..%d bytes, not '.' or '..', no '/', ':', '%%' or blanks)",
					    a, IF_NAMESIZE - 1);
				goto out;
			}
			strcpy(c->tun_name, a);
			break;
		case 'i':
			if (zt_addr_parse(a, &c->tun_ip) || c->tun_ip.family != ZT_AF_INET) {
				usage_error("--tun-ip: '%s' is not an IPv4 address", a);
				goto out;
			}
			if (!zt_addr_is_host(&c->tun_ip)) {
				usage_error("--tun-ip: '%s' is not an address a host may have (unspecified, loopback, multicast or broadcast)",
					    a);
				goto out;
			}
			break;
		case 'p':
			if (parse_num(a, 1, 32, &v)) {
				usage_error("--prefix: '%s' is not a number in 1..32", a);
				goto out;
			}
			c->prefix = (uint8_t)v;
			break;
		case 'm':
			if (parse_num(a, 1280, 65535, &v)) {
				usage_error("--tun-mtu: '%s' is not a number in 1280..65535", a);
				goto out;
			}
			c->mtu = (uint32_t)v;
			break;
		case 'x':
			if (parse_proxy(c, a))
				goto out;
			break;
		case 'e':
			if (!zr_ifname_ok(a)) {
				usage_error("--egress: '%s' is not an interface name", a);
				goto out;
			}
			strcpy(c->egress, a);
			break;
		case 'd':
			c->debug = true;
			break;
		case 'h':
			fputs(zr_usage, stdout);
			rc = ZR_PARSE_EXIT;
			goto out;
		case OPT_VERSION:
			printf("ztun-ref %s\n", ZR_VERSION);
			rc = ZR_PARSE_EXIT;
			goto out;
		case OPT_TUN_IP6:
			if (parse_ip6_prefix(a, &c->tun_ip6, &c->prefix6)) {
				usage_error("--tun-ip6: '%s' is not IPV6ADDR/PREFIX (prefix 1..128)", a);
				goto out;
			}
			if (!zt_addr_is_host(&c->tun_ip6)) {
				usage_error("--tun-ip6: '%s' is not an address a host may have (unspecified, loopback or multicast)",
					    a);
				goto out;
			}
			c->have_ip6 = true;
			break;
		case OPT_TUN_FD:
			if (parse_num(a, 0, 0x7fffffff, &v)) {
				usage_error("--tun-fd: '%s' is not a descriptor number", a);
				goto out;
			}
			c->tun_fd = (int)v;
			break;
		case OPT_MULTI_QUEUE:
			c->multi_queue = true;
			break;
		case OPT_NO_OFFLOAD:
			c->offload = false;
			break;
		case OPT_MARK:
			if (parse_num(a, 0, UINT32_MAX, &v)) {
				usage_error("--mark: '%s' is not a number in 0..4294967295", a);
				goto out;
			}
			c->mark = (uint32_t)v;
			c->use_mark = true;
			break;
		case OPT_MAX_FLOWS:
		case OPT_MAX_UDP_FLOWS:
			if (parse_num(a, 1, 65536, &v)) {
				usage_error("--max-%sflows: '%s' is not a number in 1..65536",
					    opt == OPT_MAX_FLOWS ? "" : "udp-", a);
				goto out;
			}
			*(opt == OPT_MAX_FLOWS ? &c->max_flows : &c->max_udp_flows) =
				(uint32_t)v;
			break;
		case OPT_TCP_BUFFER:
			if (parse_num(a, ZR_TCP_BUFFER_MIN, ZR_TCP_BUFFER_MAX, &v)) {
				usage_error("--tcp-buffer: '%s' is not a number of bytes in %u..%u",
					    a, ZR_TCP_BUFFER_MIN, ZR_TCP_BUFFER_MAX);
				goto out;
			}
			c->tcp_buffer = (uint32_t)v;
			break;
		case OPT_RULE:
		case OPT_RULES:
		case OPT_DEFAULT:
			src[nsrc].kind = opt;
			src[nsrc++].arg = a;
			break;
		case OPT_UDP: {
			enum zt_route_decision d;

			/* each one given: an earlier one is not dropped unseen */
			if (parse_udp_mode(a, &d)) {
				usage_error("--udp: unknown mode '%s' (socks5, nat, direct or drop)",
					    a);
				goto out;
			}
			udp = a;
			break;
		}
		case OPT_AUTO_ROUTE:
			c->auto_route = true;
			break;
		case OPT_STATE_DIR:
			if (check_state_dir(c, a))
				goto out;
			state_dir = a;
			break;
		case OPT_KILL_SWITCH:
			c->kill_switch = true;
			break;
		case OPT_SOCKS5_PIPELINED:
			pipelined = true;
			break;
		case OPT_EARLY_SYNACK:
			c->early_synack = true;
			break;
		case OPT_UDP_FULL_CONE:
			c->udp_full_cone = true;
			break;
		case OPT_DNS_OVER_TCP:
			c->dns_over_tcp = true;
			break;
		case OPT_NO_DNS_TCP_FALLBACK:
			c->no_dns_tcp_fallback = true;
			break;
		case OPT_BUSY_POLL:
			if (parse_num(a, 0, ZR_BUSY_POLL_MAX_US, &v)) {
				usage_error("--busy-poll: '%s' is not a number of microseconds in 0..%u",
					    a, ZR_BUSY_POLL_MAX_US);
				goto out;
			}
			c->busy_poll_us = (uint32_t)v;
			break;
		case OPT_UDP_RCVBUF:
			if (parse_num(a, 0, ZR_UDP_RCVBUF_MAX, &v) ||
			    (v && v < ZR_UDP_RCVBUF_MIN)) {
				usage_error("--udp-rcvbuf: '%s' is not 0 or a number of bytes in %u..%u",
					    a, ZR_UDP_RCVBUF_MIN, ZR_UDP_RCVBUF_MAX);
				goto out;
			}
			c->udp_rcvbuf = (uint32_t)v;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (parse_num(a, 1, ZR_CONNECT_TIMEOUT_MAX_S, &v)) {
				usage_error("--connect-timeout: '%s' is not a number of seconds in 1..%u",
					    a, ZR_CONNECT_TIMEOUT_MAX_S);
				goto out;
			}
			c->connect_timeout_s = (uint32_t)v;
			break;
		case OPT_TCP_IDLE_TIMEOUT:
		case OPT_UDP_IDLE_TIMEOUT:
		case OPT_UDP_STREAM_TIMEOUT:
			if (parse_num(a, 1, ZR_IDLE_MAX_S, &v)) {
				usage_error("--%s-timeout: '%s' is not a number of seconds in 1..%u",
					    opt == OPT_TCP_IDLE_TIMEOUT ? "tcp-idle" :
					    opt == OPT_UDP_IDLE_TIMEOUT ? "udp-idle" :
									  "udp-stream",
					    a, ZR_IDLE_MAX_S);
				goto out;
			}
			*(opt == OPT_TCP_IDLE_TIMEOUT ? &c->tcp_idle_s :
			  opt == OPT_UDP_IDLE_TIMEOUT ? &c->udp_idle_s :
							&c->udp_stream_s) = (uint32_t)v;
			break;
		case OPT_UPSTREAM_KEEPALIVE:
			if (parse_num(a, 0, ZR_KEEPALIVE_MAX_S, &v)) {
				usage_error("--upstream-keepalive: '%s' is not a number of seconds in 0..%u",
					    a, ZR_KEEPALIVE_MAX_S);
				goto out;
			}
			c->upstream_keepalive_s = (uint32_t)v;
			c->upstream_keepalive_set = true;
			break;
		case OPT_TCP_EVICT_IDLE:
		case OPT_UDP_EVICT_IDLE:
			if (parse_num(a, 0, ZR_IDLE_MAX_S, &v)) {
				usage_error("--%s-evict-idle: '%s' is not a number of seconds in 0..%u",
					    opt == OPT_TCP_EVICT_IDLE ? "tcp" : "udp",
					    a, ZR_IDLE_MAX_S);
				goto out;
			}
			if (opt == OPT_TCP_EVICT_IDLE) {
				c->tcp_evict_s = (uint32_t)v;
				c->tcp_evict_set = true;
			} else {
				c->udp_evict_s = (uint32_t)v;
				c->udp_evict_set = true;
			}
			break;
		case OPT_TXQUEUELEN:
			if (parse_num(a, 1, ZR_TXQUEUELEN_MAX, &v)) {
				usage_error("--txqueuelen: '%s' is not a number of packets in 1..%u",
					    a, ZR_TXQUEUELEN_MAX);
				goto out;
			}
			c->txqueuelen = (uint32_t)v;
			txqueuelen = true;
			break;
		case OPT_FAKE_DNS:
			if (parse_fake_dns(c, a))
				goto out;
			break;
		case OPT_FAKE_IP_RANGE:
		case OPT_FAKE_IP6_RANGE:
			fake_flag = opt == OPT_FAKE_IP_RANGE ? "--fake-ip-range"
							     : "--fake-ip6-range";
			if (parse_fake_range(opt == OPT_FAKE_IP_RANGE ?
						     &c->fake_dns.pool4 :
						     &c->fake_dns.pool6,
					     opt == OPT_FAKE_IP_RANGE ? ZT_AF_INET :
									ZT_AF_INET6,
					     fake_flag, a))
				goto out;
			break;
		case OPT_FAKE_DNS_UPSTREAM:
			fake_flag = "--fake-dns-upstream";
			if (parse_fake_upstream(c, a))
				goto out;
			break;
		case OPT_FAKE_DNS_NAMES:
			fake_flag = "--fake-dns-names";
			if (parse_num(a, 1, ZT_FAKEDNS_NAMES_MAX, &v)) {
				usage_error("--fake-dns-names: '%s' is not a number in 1..%u",
					    a, ZT_FAKEDNS_NAMES_MAX);
				goto out;
			}
			c->fake_dns.max_names = (uint32_t)v;
			break;
		case OPT_STATS_FILE:
			if (check_stats_file(a))
				goto out;
			c->stats_file = a;
			break;
		case OPT_STATS_INTERVAL:
			if (parse_num(a, 1, ZR_STATS_INTERVAL_MAX, &v)) {
				usage_error("--stats-interval: '%s' is not a number of seconds in 1..%u",
					    a, ZR_STATS_INTERVAL_MAX);
				goto out;
			}
			c->stats_interval_s = (uint32_t)v;
			stats_interval = true;
			break;
		case OPT_PROXY_REFRESH:
			if (parse_num(a, 1, ZR_PROXY_REFRESH_MAX, &v)) {
				usage_error("--proxy-refresh: '%s' is not a number of seconds in 1..%u",
					    a, ZR_PROXY_REFRESH_MAX);
				goto out;
			}
			c->proxy_refresh_s = (uint32_t)v;
			break;
		case ':':
			usage_error("%s: needs a value", argv[optind - 1]);
			goto out;
		default:
			if (!ambiguous_flag(argv[optind - 1]) ||
			    !flag_takes_no_value(argv[optind - 1]))
				goto out;
			if (!strncmp(argv[optind - 1], "--", 2) || !optopt ||
			    optopt >= 256)
				usage_error("unknown flag '%s'", argv[optind - 1]);
			else
				usage_error("unknown flag '-%c'", optopt);
			goto out;
		}
	}
	if (optind < argc) {
		usage_error("unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (check_tun_ip(c) || set_state_dir(c, state_dir) ||
	    check_fake_dns(c, fake_flag) || check_proxy_loops(c))
		goto out;
	if (stats_interval && !c->stats_file) {
		usage_error("--stats-interval: no --stats-file to write");
		goto out;
	}
	if (c->tun_fd >= 0) {
		/* flags that would set the device up: the parent did */
		const char *conflict = c->kill_switch ? "--kill-switch" :
				       txqueuelen ? "--txqueuelen" :
				       c->multi_queue ? "--multi-queue" :
				       !c->offload ? "--no-offload" : NULL;

		if (conflict) {
			usage_error("%s: not with --tun-fd (the parent owns that device)",
				    conflict);
			goto out;
		}
	}
	if (pipelined && !c->socks5.enabled) {
		usage_error("--socks5-pipelined: no SOCKS5 proxy (-x)");
		goto out;
	}
	if (c->dns_over_tcp && !c->socks5.enabled && !c->http.enabled) {
		usage_error("--dns-over-tcp: no proxy (-x) to send DNS through");
		goto out;
	}
	if (c->no_dns_tcp_fallback && c->dns_over_tcp) {
		usage_error("--no-dns-tcp-fallback: --dns-over-tcp sends DNS over TCP from the start");
		goto out;
	}
	if (c->no_dns_tcp_fallback && !c->socks5.enabled) {
		usage_error("--no-dns-tcp-fallback: no SOCKS5 proxy (-x)");
		goto out;
	}
	if (c->proxy_refresh_s && !(c->socks5.enabled && c->socks5_host[0]) &&
	    !(c->http.enabled && c->http_host[0])) {
		usage_error("--proxy-refresh: no proxy (-x) given by name");
		goto out;
	}
	c->socks5.pipelined = pipelined;
	rc = build_rules(c, src, nsrc, udp);
	if (rc == 0) {
		c->rule_src = src;
		c->n_rule_src = nsrc;
		c->udp_arg = udp;
		return ZR_PARSE_RUN;
	}
out:
	free(src);
	return rc;
}

int zr_config_reload_rules(struct zr_config *c)
{
	struct zr_config next = *c;
	int rc;

	/* the proxies and flags as they are; a table of its own */
	next.rules_reload = true;
	rc = build_rules(&next, c->rule_src, c->n_rule_src, c->udp_arg);
	if (rc)
		return rc;
	zt_rules_destroy(&c->rules);
	c->rules = next.rules;
	c->def = next.def;
	c->udp = next.udp;
	return 0;
}

/**
 * zr_config_free() - free what zr_config_parse() allocated.
 * @c: the config
 */
void zr_config_free(struct zr_config *c)
{
	zt_rules_destroy(&c->rules);
	free(c->rule_src);
	c->rule_src = NULL;
}
