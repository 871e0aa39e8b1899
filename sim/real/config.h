/* SPDX-License-Identifier: MIT */
/*
 * config.h - the ztun-ref command line, parsed into one struct.
 *
 * Theory of operation: zr_config_parse() reads argv completely first
 * (flags may come in any order), then derives the defaults that depend on
 * other flags (--default and --udp follow the proxies given) and builds
 * the rule table: the rules of --rule/--rules/--default in command-line
 * order, then one final "udp any -> <--udp>" rule, so UDP is dropped unless
 * a rule or --udp says otherwise. Nothing is opened or configured here
 * except reading --rules files. Messages name the flag and the value.
 * The rules' sources are kept, so zr_config_reload_rules() can build the
 * table again (SIGHUP: a --rules file edited).
 */
#ifndef ZTUN_REAL_CONFIG_H
#define ZTUN_REAL_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "real/routestate.h"
#include "version.h"
#include "ztun/addr.h"
#include "ztun/dns_wire.h"
#include "ztun/route.h"
#include "ztun/router.h"

#define ZR_VERSION ZTUN_VERSION

/* A proxy's host name (zt_dns_name_valid()): at most 253 characters
 * (RFC 1035's 255 octets on the wire). */
#define ZR_HOST_NAME_MAX ZT_DNS_NAME_MAX

struct zr_config {
	char tun_name[IF_NAMESIZE];     /* -n */
	struct zt_addr tun_ip;          /* -i */
	uint8_t prefix;                 /* -p */
	bool have_ip6;
	struct zt_addr tun_ip6;         /* --tun-ip6 */
	uint8_t prefix6;
	uint32_t mtu;                   /* -m */
	uint32_t txqueuelen;            /* --txqueuelen */
	int tun_fd;                     /* --tun-fd, -1: create */
	bool multi_queue;               /* --multi-queue */
	bool offload;                   /* off with --no-offload */
	struct zt_proxy_config socks5;  /* -x socks5://... or host:port */
	char socks5_host[ZR_HOST_NAME_MAX + 1]; /* its host name, "" if an
					 * address; resolved at start */
	struct zt_proxy_config http;    /* -x http://... */
	char http_host[ZR_HOST_NAME_MAX + 1];   /* the same for it */
	char egress[IF_NAMESIZE];       /* -e, "" = from the default route */
	bool use_mark;
	uint32_t mark;                  /* --mark */
	uint32_t max_flows;             /* --max-flows: TCP flow slots */
	uint32_t max_udp_flows;         /* --max-udp-flows: UDP flow slots */
	uint32_t tcp_buffer;            /* --tcp-buffer, 0: the stack's */
	bool auto_route;                /* --auto-route */
	bool kill_switch;               /* --kill-switch */
	bool early_synack;              /* --early-synack */
	bool udp_full_cone;             /* --udp-full-cone */
	bool dns_over_tcp;              /* --dns-over-tcp */
	bool no_dns_tcp_fallback;       /* --no-dns-tcp-fallback */
	uint32_t proxy_refresh_s;       /* --proxy-refresh, 0: SIGHUP only */
	uint32_t busy_poll_us;          /* --busy-poll, 0: off */
	uint32_t udp_rcvbuf;            /* --udp-rcvbuf, 0: the kernel's */
	const char *stats_file;         /* --stats-file (argv's), NULL: none */
	uint32_t stats_interval_s;      /* --stats-interval */
	uint32_t connect_timeout_s;     /* --connect-timeout, 0: the stack's */
	uint32_t tcp_idle_s;            /* --tcp-idle-timeout, 0: the stack's */
	uint32_t upstream_keepalive_s;  /* --upstream-keepalive (0: off) */
	bool upstream_keepalive_set;    /* ... given; else the router's */
	uint32_t tcp_evict_s;           /* --tcp-evict-idle (0: never) */
	bool tcp_evict_set;             /* ... given; else the stack's */
	uint32_t udp_evict_s;           /* --udp-evict-idle (0: never) */
	bool udp_evict_set;             /* ... given; else the stack's */
	uint32_t udp_idle_s;            /* --udp-idle-timeout, 0: the stack's */
	uint32_t udp_stream_s;          /* --udp-stream-timeout, 0: the stack's */
	struct zt_fakedns_config fake_dns; /* --fake-dns, --fake-ip-range,
					    * --fake-ip6-range, --fake-dns-names */
	char state_dir[ZR_STATE_PATH_MAX]; /* --state-dir, or its default
					    * with --auto-route; else "" */
	bool debug;                     /* -d */
	enum zt_route_decision def;     /* the default decision in effect */
	enum zt_route_decision udp;     /* --udp */
	struct zt_rules rules;          /* owned; zr_config_free() */
	/* where the rules come from, in command-line order (owned; the
	 * texts are argv's) and --udp (argv's, or NULL) */
	struct zr_rule_src *rule_src;
	int n_rule_src;
	const char *udp_arg;
	bool rules_reload;              /* building them again: errors are
					 * logged, not usage errors */
};

/* --stats-interval: a Prometheus scrape's usual period by default; at
 * most a day. --stats-file: a path the kernel takes, ".tmp" included. */
#define ZR_STATS_INTERVAL_DEFAULT 15u
#define ZR_STATS_INTERVAL_MAX 86400u
#define ZR_PROXY_REFRESH_MAX 86400u
#define ZR_STATS_PATH_MAX 4096

/* --rules: the longest line of a rules file, comment included (a rule
 * itself is at most 511 bytes, docs/rules.md) */
#define ZR_RULES_LINE_MAX 4096

/* --fake-ip-range, --fake-ip6-range: the widest prefix taken (a wider
 * one would route most of the Internet into the TUN as fake) */
#define ZR_FAKE_IP_PREFIX_MIN 8u
#define ZR_FAKE_IP6_PREFIX_MIN 16u

/* --tcp-buffer: a ring below a page is not worth its bookkeeping; past
 * 16 MiB a flow holds more than any window needs on a TUN. */
#define ZR_TCP_BUFFER_MIN 4096u
#define ZR_TCP_BUFFER_MAX (16u << 20)

/* The largest --busy-poll window: past a millisecond, sleeping is cheap
 * next to the wait. */
#define ZR_BUSY_POLL_MAX_US 1000u

/* --tcp-idle-timeout / --udp-idle-timeout / --udp-stream-timeout: without
 * them the stack's defaults hold (7440 s, RFC 5382's least for an
 * established TCP connection; 30 s, 120 s); up to a week. The same bound
 * for --tcp-evict-idle and --udp-evict-idle. */
#define ZR_IDLE_MAX_S 604800u
/* --upstream-keepalive: Linux's default idle before the first probe; a
 * longer one would outlast --tcp-idle-timeout's default before it found
 * anything. */
#define ZR_KEEPALIVE_MAX_S 7200u
/* --connect-timeout: past this the kernel has long given up on a SYN
 * nobody answers (about 127 s with net.ipv4.tcp_syn_retries 6) */
#define ZR_CONNECT_TIMEOUT_MAX_S 300u

/* --udp-rcvbuf: a burst of datagrams the loop has not read yet waits in
 * the socket; the kernel's default (208 KiB, doubled for overhead: about
 * 180 datagrams of 1200 bytes) drops what a descheduled moment lets in. */
#define ZR_UDP_RCVBUF_DEFAULT (1u << 20)
#define ZR_UDP_RCVBUF_MIN 65536u
#define ZR_UDP_RCVBUF_MAX (64u << 20)

/* --txqueuelen: what the kernel queues on the TUN for ztun-ref to read.
 * A TUN starts with 500 and drops past it (counted as tx dropped): a
 * datagram burst of a moment ztun-ref is descheduled. 1000 is the
 * kernel's default for Ethernet devices; TCP senders stay far below it
 * (TCP Small Queues), so only bursts use the room. */
#define ZR_TXQUEUELEN_DEFAULT 1000u
#define ZR_TXQUEUELEN_MAX 65536u

enum {
	ZR_PARSE_RUN = 0,   /* run with the config */
	ZR_PARSE_EXIT = 1,  /* --help or --version printed: exit 0 */
};

/*
 * zr_config_parse() - parse @argv into @c.
 * Return: ZR_PARSE_RUN, ZR_PARSE_EXIT, or -EINVAL after one line on stderr
 * naming the bad flag or value (exit status 2); the rule table is freed on
 * every return but ZR_PARSE_RUN.
 */
int zr_config_parse(struct zr_config *c, int argc, char **argv);
void zr_config_free(struct zr_config *c);

/*
 * zr_config_reload_rules() - build the rule table again from the same
 * --rule, --rules and --default flags and --udp (each --rules file read
 * anew) and put it in the place of c->rules (c->def, c->udp follow), so
 * that what routes through &c->rules sees the new rules from its next
 * decision on. Return: 0, or -EINVAL with c unchanged after an error line
 * naming the file, line and rule.
 */
int zr_config_reload_rules(struct zr_config *c);

/*
 * zr_config_proxy_loops() - whether routes of ztun-ref's own (the TUN's
 * subnets, the fake ranges and resolver) take proxy address @a into the
 * TUN, so that the connections to the proxy would loop through it; then
 * @why (@cap bytes) says which ("in the TUN's subnet 10.0.0.0/24 (-i,
 * -p)"). Return: true if so.
 */
bool zr_config_proxy_loops(const struct zr_config *c, const struct zt_addr *a,
			   char *why, size_t cap);

/*
 * zr_config_proxy_unusable() - whether proxy address @a is one no
 * connection can go to: unspecified, multicast, the IPv4 broadcast
 * address, or IPv6 link-local (no zone can be given). Loopback is fine.
 * Return: what it is ("a multicast address"), or NULL if usable.
 */
const char *zr_config_proxy_unusable(const struct zt_addr *a);

/* The --help text (docs/cli.md quotes it). */
extern const char zr_usage[];

#endif /* ZTUN_REAL_CONFIG_H */
