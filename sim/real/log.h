/* SPDX-License-Identifier: MIT */
/*
 * log.h - leveled logging of the real-mode host (ztun-ref) to stderr.
 *
 * Theory of operation: one process-wide threshold (the host may keep
 * globals; the core may not). Each message is one line
 * "PROGRAM: LEVEL: TEXT" where LEVEL is error, warn, info or debug;
 * messages above the threshold are discarded before formatting.
 */
#ifndef ZTUN_REAL_LOG_H
#define ZTUN_REAL_LOG_H

#include <stdbool.h>

enum zr_log_level {
	ZR_LOG_ERROR = 0,
	ZR_LOG_WARN,
	ZR_LOG_INFO,
	ZR_LOG_DEBUG,
};

/* Messages up to @level are printed (default ZR_LOG_INFO); @prog is
 * borrowed and prefixes every line. */
void zr_log_setup(const char *prog, enum zr_log_level level);
bool zr_log_enabled(enum zr_log_level level);
void zr_log(enum zr_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define zr_err(...)   zr_log(ZR_LOG_ERROR, __VA_ARGS__)
#define zr_warn(...)  zr_log(ZR_LOG_WARN, __VA_ARGS__)
#define zr_info(...)  zr_log(ZR_LOG_INFO, __VA_ARGS__)
#define zr_debug(...) zr_log(ZR_LOG_DEBUG, __VA_ARGS__)

#endif /* ZTUN_REAL_LOG_H */
