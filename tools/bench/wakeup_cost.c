/* SPDX-License-Identifier: MIT */
/*
 * wakeup_cost.c - what a system call and a wake-up cost on this machine.
 *
 * Theory of operation: the short-connection figures of `make bench` are
 * mostly wake-ups (docs/performance.md, step 14), and what one costs
 * depends on the machine far more than on ztun: on a VM whose idle vCPU
 * halts it is tens of microseconds. So the benchmark prints it next to
 * its table. Three measurements:
 *   syscall    getppid() in a loop: the cost of entering the kernel;
 *   cross      two processes pass one byte back and forth through two
 *              pipes, pinned to different CPUs: each hop wakes a process
 *              on another, often idle, CPU;
 *   same       the same pinned to one CPU: a wake-up without an idle CPU.
 * Output, one line: "WAKEUP syscall_ns=N rtt_cross_us=X rtt_same_us=Y"
 * (rtt_cross_us=- on a single CPU). Exit 1 if a pipe or fork fails.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYSCALLS 200000
#define ROUND_TRIPS 20000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: unpinned, the figure is still a wake-up's. */
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* Mean round trip in us between this process on @cpu_a and a child on
 * @cpu_b, or a negative value when a pipe or fork failed. */
static double round_trip_us(int cpu_a, int cpu_b)
{
	int ping[2], pong[2], status;
	char c = 0;
	pid_t child;
	uint64_t t0, t1;

	if (pipe(ping) < 0 || pipe(pong) < 0)
		return -1;
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		pin(cpu_b);
		for (int i = 0; i < ROUND_TRIPS; i++)
			if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	pin(cpu_a);
	t0 = now_ns();
	for (int i = 0; i < ROUND_TRIPS; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			break;
	t1 = now_ns();
	waitpid(child, &status, 0);
	close(ping[0]);
	close(ping[1]);
	close(pong[0]);
	close(pong[1]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return (double)(t1 - t0) / ROUND_TRIPS / 1000.0;
}

int main(void)
{
	uint64_t t0 = now_ns(), t1;
	double cross = 0, same;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 0; i < SYSCALLS; i++)
		syscall(SYS_getppid);
	t1 = now_ns();
	if (ncpu > 1)
		cross = round_trip_us(0, 1);
	same = round_trip_us(0, 0);
	if (cross < 0 || same < 0) {
		fprintf(stderr, "wakeup_cost: pipe or fork failed\n");
		return 1;
	}
	printf("WAKEUP syscall_ns=%.0f ", (double)(t1 - t0) / SYSCALLS);
	if (ncpu > 1)
		printf("rtt_cross_us=%.1f ", cross);
	else
		printf("rtt_cross_us=- ");
	printf("rtt_same_us=%.1f\n", same);
	return 0;
}
