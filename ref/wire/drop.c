/* SPDX-License-Identifier: MIT */
#include "ztun/drop.h"

static const char *const drop_names[ZT_DROP__COUNT] = {
	[ZT_DROP_NONE] = "none",
	[ZT_DROP_TRUNCATED] = "truncated",
	[ZT_DROP_BAD_VERSION] = "bad_version",
	[ZT_DROP_BAD_IHL] = "bad_ihl",
	[ZT_DROP_BAD_TOTAL_LEN] = "bad_total_len",
	[ZT_DROP_BAD_CHECKSUM] = "bad_checksum",
	[ZT_DROP_BAD_DATA_OFFSET] = "bad_data_offset",
	[ZT_DROP_BAD_OPTION_LEN] = "bad_option_len",
	[ZT_DROP_BAD_EXT_HDR] = "bad_ext_hdr",
	[ZT_DROP_EXT_CHAIN_TOO_LONG] = "ext_chain_too_long",
	[ZT_DROP_BAD_LENGTH] = "bad_length",
	[ZT_DROP_BAD_FRAGMENT] = "bad_fragment",
	[ZT_DROP_BAD_ADDRESS] = "bad_address",
	[ZT_DROP_UNSUPPORTED] = "unsupported",
	[ZT_DROP_FRAG_OVERLAP] = "frag_overlap",
	[ZT_DROP_FRAG_TIMEOUT] = "frag_timeout",
	[ZT_DROP_FRAG_NO_MEMORY] = "frag_no_memory",
	[ZT_DROP_FRAG_TOO_BIG] = "frag_too_big",
	[ZT_DROP_TCP_NO_FLOW] = "tcp_no_flow",
	[ZT_DROP_TCP_OUT_OF_WINDOW] = "tcp_out_of_window",
	[ZT_DROP_TCP_BAD_ACK] = "tcp_bad_ack",
	[ZT_DROP_TCP_BAD_FLAGS] = "tcp_bad_flags",
	[ZT_DROP_TCP_RST_INVALID] = "tcp_rst_invalid",
	[ZT_DROP_TCP_OOO_FULL] = "tcp_ooo_full",
	[ZT_DROP_TCP_NO_BUFFER] = "tcp_no_buffer",
	[ZT_DROP_FRAG_CHAIN_INCOMPLETE] = "frag_chain_incomplete",
	[ZT_DROP_BAD_PORT] = "bad_port",
	[ZT_DROP_ICMP_NO_FLOW] = "icmp_no_flow",
	[ZT_DROP_ICMP_NOT_CLIENT] = "icmp_not_client",
	[ZT_DROP_ICMP_NOT_IN_FLIGHT] = "icmp_not_in_flight",
};

const char *zt_drop_name(enum zt_drop reason)
{
	if ((unsigned)reason >= ZT_DROP__COUNT || !drop_names[reason])
		return "unknown";
	return drop_names[reason];
}
