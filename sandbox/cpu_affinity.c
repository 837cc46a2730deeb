/*
 * cpu_affinity.c: which host CPU the UML process tree is pinned to.
 * Why: in UML's ptrace mode every guest syscall is a handoff between the
 * UML kernel thread and the stub process; on one host CPU that handoff
 * measured 4.7-6.3 us, across CPUs 13-14.5 us (java-junit 6.3 -> 5.1 s).
 * Owns: parsing `--cpu` values, checking a CPU against the set this process
 * may run on (sched_getaffinity: what taskset, systemd's CPUAffinity= and a
 * cgroup cpuset left us), and picking instance k's CPU from that set.
 * The pinning itself is one sched_setaffinity in uml.c's child before the
 * exec, so that every process of the tree inherits it.
 * Never: logs (library-like: -1 and an error buffer), pins this process.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

/* The allowed set as a short list ("0-1,4") for error messages. */
static void cpu_affinity_list(const cpu_set_t *set, char *out, size_t outlen)
{
	size_t len = 0;

	out[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && len + 24 < outlen; c++) {
		int end = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set))
			end++;
		len += (size_t)snprintf(out + len, outlen - len, "%s%d", len ? "," : "", c);
		if (end > c)
			len += (size_t)snprintf(out + len, outlen - len, "-%d", end);
		c = end;
	}
}

static int cpu_affinity_allowed(cpu_set_t *set, char *err, size_t errlen)
{
	CPU_ZERO(set);
	if (sched_getaffinity(0, sizeof(*set), set) < 0)
		return errbuf_set(err, errlen, "sched_getaffinity: %s", strerror(errno));
	return 0;
}

/* "none" -> SANDBOX_CPU_NONE, "auto" -> SANDBOX_CPU_AUTO, else a CPU
 * number parsed strictly. */
int cpu_affinity_parse(const char *s, int *cpu, char *err, size_t errlen)
{
	uint64_t v;

	if (strcmp(s, "none") == 0) {
		*cpu = SANDBOX_CPU_NONE;
		return 0;
	}
	if (strcmp(s, "auto") == 0) {
		*cpu = SANDBOX_CPU_AUTO;
		return 0;
	}
	if (parse_u64(s, 0, CPU_SETSIZE - 1, &v) < 0)
		return errbuf_set(err, errlen, "'%s' is not a CPU number (0..%d), 'auto' or 'none'",
		    s, CPU_SETSIZE - 1);
	*cpu = (int)v;
	return 0;
}

/* 0 when cpu is in the set this process may run on; -1 naming the set. */
int cpu_affinity_check(int cpu, char *err, size_t errlen)
{
	cpu_set_t set;
	char list[256];

	if (cpu_affinity_allowed(&set, err, errlen) < 0)
		return -1;
	if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set))
		return 0;
	cpu_affinity_list(&set, list, sizeof(list));
	return errbuf_set(err, errlen, "cpu %d is not one this process may run on (allowed: %s; "
	    "see taskset, systemd's CPUAffinity= and the cgroup's cpuset.cpus)", cpu, list);
}

/* The (k mod n)-th CPU of the n this process may run on: instance k of a
 * pool gets its own CPU while there are enough, and they wrap around. */
int cpu_affinity_pick(unsigned k, int *cpu, char *err, size_t errlen)
{
	cpu_set_t set;
	int n, i = 0;

	if (cpu_affinity_allowed(&set, err, errlen) < 0)
		return -1;
	n = CPU_COUNT(&set);
	if (n <= 0)
		return errbuf_set(err, errlen, "sched_getaffinity: an empty CPU set");
	k %= (unsigned)n;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && (unsigned)i++ == k) {
			*cpu = c;
			return 0;
		}
	return errbuf_set(err, errlen, "sched_getaffinity: CPU %u of %d not found", k, n);
}

/* The CPU this thread runs on now (sandbox-run's default). */
int cpu_affinity_current(int *cpu, char *err, size_t errlen)
{
	int c = sched_getcpu();

	if (c < 0)
		return errbuf_set(err, errlen, "sched_getcpu: %s", strerror(errno));
	*cpu = c;
	return 0;
}
