/* SPDX-License-Identifier: MIT */
/*
 * log.c - leveled logging to stderr for ztun-ref.
 *
 * Theory of operation: a message is formatted into one buffer with its
 * "PROGRAM: LEVEL: " prefix and a newline, then written with a single
 * fputs() so that concurrent writers to the same stderr do not interleave
 * within a line. Lines longer than the buffer are cut.
 */
#include "real/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_prog = "ztun-ref";
static enum zr_log_level log_level = ZR_LOG_INFO;

static const char *const level_names[] = {
	[ZR_LOG_ERROR] = "error",
	[ZR_LOG_WARN] = "warn",
	[ZR_LOG_INFO] = "info",
	[ZR_LOG_DEBUG] = "debug",
};

/**
 * zr_log_setup() - set the line prefix and the threshold.
 * @prog: program name, borrowed for the life of the process
 * @level: most verbose level printed
 */
void zr_log_setup(const char *prog, enum zr_log_level level)
{
	if (prog)
		log_prog = prog;
	log_level = level;
}

/**
 * zr_log_enabled() - whether messages of @level are printed.
 * @level: the level to test
 *
 * Return: true when zr_log(@level, ...) would print.
 */
bool zr_log_enabled(enum zr_log_level level)
{
	return level <= log_level;
}

/**
 * zr_log() - print one line "PROGRAM: LEVEL: TEXT" to stderr.
 * @level: severity
 * @fmt: printf format, then its arguments
 */
void zr_log(enum zr_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t len;
	int n;

	if (!zr_log_enabled(level))
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", log_prog,
		     level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	len = strlen(line);
	line[len] = '\n';
	line[len + 1] = 0;
	fputs(line, stderr);
}
