/*
 * policy.c: Scout's file policy: parse the policy file strictly, answer
 * "may PATH be accessed so?" by the longest matching prefix.
 * Owns: the format (sandbox/SCOUT.md) and the built-in default.
 * Never: logs, touches the file system beyond reading the policy file,
 * resolves paths (callers pass canonical paths; see scout_resolve).
 *
 * Rules: `allow ro P` (read, exec), `allow rw P` (read, write, create,
 * exec), `allow dev P` (read, write; exactly P, never below it), `deny P`.
 * A rule for P covers P and everything below it on a component boundary;
 * the longest covering rule wins; no rule covers -> denied. The Carrier
 * asks `exec` for each interpreter an exec loads too (#!, PT_INTERP).
 */
#include "sandbox/scout.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLICY_MAX_RULES 256
#define POLICY_MAX_FILE (64 * 1024)
#define POLICY_MAX_PATH 4095

enum rule_kind { RULE_RO, RULE_RW, RULE_DEV, RULE_DENY };

struct rule {
	char *prefix;
	size_t len;
	enum rule_kind kind;
};

struct policy {
	struct rule rules[POLICY_MAX_RULES];
	size_t count;
};

static const char default_text[] =
    "# Scout default policy (format: sandbox/SCOUT.md): read-only system,\n"
    "# read-write task dir and /tmp, a few devices, everything else denied.\n"
    "# The longest matching prefix wins; `dev` allows exactly that path.\n"
    "# Exec (ro, rw) binds what the kernel runs: the program and each\n"
    "# interpreter it loads (a script's #! line, an ELF's PT_INTERP).\n"
    "allow ro /usr\n"
    "allow ro /bin\n"
    "allow ro /sbin\n"
    "allow ro /lib\n"
    "allow ro /lib32\n"
    "allow ro /lib64\n"
    "allow ro /libx32\n"
    "allow ro /opt\n"
    "allow ro /etc\n"
    "deny /etc/shadow\n"
    "deny /etc/shadow-\n"
    "deny /etc/gshadow\n"
    "deny /etc/gshadow-\n"
    "deny /etc/sudoers\n"
    "deny /etc/sudoers.d\n"
    "deny /etc/ssh\n"
    "allow rw $TASK\n"
    "allow rw /tmp\n"
    "allow rw /dev/shm\n"
    "allow dev /dev/null\n"
    "allow dev /dev/zero\n"
    "allow dev /dev/full\n"
    "allow dev /dev/random\n"
    "allow dev /dev/urandom\n"
    "allow dev /dev/tty\n"
    "# /proc/self is the calling process's own directory (the supervisor\n"
    "# maps /proc/<own pid>, /proc/thread-self and /proc/self/task/<tid> of\n"
    "# its threads to it); other processes stay hidden. Denied in it: what\n"
    "# shows the machine rather than the task (pagemap: physical frames;\n"
    "# stack, syscall, wchan: the kernel's side of a thread) and mem (the\n"
    "# raw memory, with ptrace's reach).\n"
    "allow ro /proc/self\n"
    "deny /proc/self/pagemap\n"
    "deny /proc/self/stack\n"
    "deny /proc/self/syscall\n"
    "deny /proc/self/wchan\n"
    "deny /proc/self/mem\n"
    "allow ro /proc/cpuinfo\n"
    "allow ro /proc/meminfo\n"
    "allow ro /proc/stat\n"
    "allow ro /proc/loadavg\n"
    "allow ro /proc/version\n"
    "allow ro /proc/filesystems\n"
    "allow ro /proc/sys/kernel\n"
    "allow ro /proc/sys/vm\n"
    "allow ro /proc/cgroups\n"
    "allow ro /sys/devices/system/cpu\n"
    "allow ro /sys/fs/cgroup\n"
    "allow ro /sys/kernel/mm/transparent_hugepage\n"
    "allow ro /sys/kernel/mm/hugepages\n";

const char *policy_default_text(void)
{
	return default_text;
}

const char *policy_access_name(enum policy_access a)
{
	switch (a) {
	case POLICY_READ:
		return "read";
	case POLICY_WRITE:
		return "write";
	case POLICY_CREATE:
		return "create";
	case POLICY_EXEC:
		return "exec";
	}
	return "?";
}

/* Absolute, no empty, "." or ".." components, no trailing slash (but "/"). */
static int path_is_canonical(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || p[0] != '/' || len > POLICY_MAX_PATH)
		return 0;
	if (len == 1)
		return 1;
	while (i < len) {
		size_t start = ++i, clen;

		while (i < len && p[i] != '/')
			i++;
		clen = i - start;
		if (clen == 0)
			return 0;
		if (clen == 1 && p[start] == '.')
			return 0;
		if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
			return 0;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x21 || p[i] == 0x7f)
			return 0;
	return 1;
}

static int add_rule(struct policy *p, enum rule_kind kind, const char *path, size_t len,
    const char *task_dir, size_t lineno, char *err, size_t errlen)
{
	char buf[POLICY_MAX_PATH + 1];
	size_t blen;

	if (len >= 5 && memcmp(path, "$TASK", 5) == 0 && (len == 5 || path[5] == '/')) {
		size_t tlen;

		if (task_dir == NULL)
			return errbuf_set(err, errlen, "line %zu: $TASK used but no task dir given", lineno);
		tlen = strlen(task_dir);
		if (!path_is_canonical(task_dir, tlen))
			return errbuf_set(err, errlen, "task dir %s is not an absolute canonical path", task_dir);
		if (tlen == 1 && len > 5)
			tlen = 0;	/* $TASK=/ and $TASK/x: no double slash */
		if (tlen + len - 5 > POLICY_MAX_PATH)
			return errbuf_set(err, errlen, "line %zu: path too long", lineno);
		memcpy(buf, task_dir, tlen);
		memcpy(buf + tlen, path + 5, len - 5);
		blen = tlen + len - 5;
	} else {
		if (len > POLICY_MAX_PATH)
			return errbuf_set(err, errlen, "line %zu: path too long", lineno);
		memcpy(buf, path, len);
		blen = len;
	}
	buf[blen] = '\0';
	if (!path_is_canonical(buf, blen))
		return errbuf_set(err, errlen, "line %zu: path must be absolute and normalised: %s",
		    lineno, buf);
	for (size_t i = 0; i < p->count; i++)
		if (p->rules[i].len == blen && memcmp(p->rules[i].prefix, buf, blen) == 0)
			return errbuf_set(err, errlen, "line %zu: second rule for %s", lineno, buf);
	if (p->count == POLICY_MAX_RULES)
		return errbuf_set(err, errlen, "line %zu: more than %d rules", lineno, POLICY_MAX_RULES);
	p->rules[p->count].prefix = strdup(buf);
	if (p->rules[p->count].prefix == NULL)
		return errbuf_set(err, errlen, "out of memory");
	p->rules[p->count].len = blen;
	p->rules[p->count].kind = kind;
	p->count++;
	return 0;
}

/* Splits a line into at most 4 whitespace-separated words. */
static size_t split_words(const char *line, size_t len, const char *w[4], size_t wl[4])
{
	size_t n = 0, i = 0;

	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (n == 4)
			return 5;
		w[n] = line + i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		wl[n] = (size_t)(line + i - w[n]);
		n++;
	}
	return n;
}

static int word_is(const char *w, size_t wl, const char *s)
{
	return wl == strlen(s) && memcmp(w, s, wl) == 0;
}

static int parse_line(struct policy *p, const char *line, size_t len, const char *task_dir,
    size_t lineno, char *err, size_t errlen)
{
	const char *w[4];
	size_t wl[4], n;

	for (size_t i = 0; i < len; i++)
		if (line[i] == '\0' || line[i] == '\r')
			return errbuf_set(err, errlen, "line %zu: NUL or CR in the line", lineno);
	n = split_words(line, len, w, wl);
	if (n == 0 || w[0][0] == '#')
		return 0;
	if (word_is(w[0], wl[0], "deny")) {
		if (n != 2)
			return errbuf_set(err, errlen, "line %zu: want `deny PATH`", lineno);
		return add_rule(p, RULE_DENY, w[1], wl[1], task_dir, lineno, err, errlen);
	}
	if (word_is(w[0], wl[0], "allow")) {
		enum rule_kind kind;

		if (n != 3)
			return errbuf_set(err, errlen, "line %zu: want `allow ro|rw|dev PATH`", lineno);
		if (word_is(w[1], wl[1], "ro"))
			kind = RULE_RO;
		else if (word_is(w[1], wl[1], "rw"))
			kind = RULE_RW;
		else if (word_is(w[1], wl[1], "dev"))
			kind = RULE_DEV;
		else
			return errbuf_set(err, errlen, "line %zu: unknown access class (ro, rw, dev)", lineno);
		return add_rule(p, kind, w[2], wl[2], task_dir, lineno, err, errlen);
	}
	return errbuf_set(err, errlen, "line %zu: unknown keyword (allow, deny)", lineno);
}

struct policy *policy_parse(const char *text, size_t len, const char *task_dir,
    char *err, size_t errlen)
{
	struct policy *p;
	size_t pos = 0, lineno = 0;

	if (len > POLICY_MAX_FILE) {
		errbuf_set(err, errlen, "policy larger than %d bytes", POLICY_MAX_FILE);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (parse_line(p, text + pos, llen, task_dir, lineno, err, errlen) < 0) {
			policy_free(p);
			return NULL;
		}
		pos += llen + (nl != NULL ? 1 : 0);
	}
	return p;
}

struct policy *policy_load(const char *file, const char *task_dir, char *err, size_t errlen)
{
	char *buf;
	ssize_t n;
	struct stat st;
	struct policy *p;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		errbuf_set(err, errlen, "open %s: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > POLICY_MAX_FILE) {
		close(fd);
		errbuf_set(err, errlen, "%s: not a regular file of at most %d bytes", file, POLICY_MAX_FILE);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	n = read_full(fd, buf, (size_t)st.st_size + 1);
	close(fd);
	if (n < 0 || n > st.st_size) {
		free(buf);
		errbuf_set(err, errlen, "read %s: %s", file, n < 0 ? strerror(errno) : "file grew");
		return NULL;
	}
	p = policy_parse(buf, (size_t)n, task_dir, err, errlen);
	free(buf);
	return p;
}

struct policy *policy_default(const char *task_dir, char *err, size_t errlen)
{
	return policy_parse(default_text, sizeof(default_text) - 1, task_dir, err, errlen);
}

static int covers(const struct rule *r, const char *path, size_t plen)
{
	if (r->len == 1)	/* "/" covers everything */
		return 1;
	if (plen < r->len || memcmp(path, r->prefix, r->len) != 0)
		return 0;
	if (r->kind == RULE_DEV)
		return plen == r->len;
	return plen == r->len || path[r->len] == '/';
}

static enum policy_verdict verdict_of(const struct rule *best, enum policy_access a)
{
	if (best == NULL)
		return POLICY_DENY;
	switch (best->kind) {
	case RULE_RO:
		return a == POLICY_READ || a == POLICY_EXEC ? POLICY_ALLOW : POLICY_DENY;
	case RULE_RW:
		return POLICY_ALLOW;
	case RULE_DEV:
		return a == POLICY_READ || a == POLICY_WRITE ? POLICY_ALLOW : POLICY_DENY;
	case RULE_DENY:
		return POLICY_DENY;
	}
	return POLICY_DENY;
}

/* Does rule r lie at dir[0..dlen) or below it (on a component boundary)? */
static int at_or_below(const struct rule *r, const char *dir, size_t dlen)
{
	if (dlen == 1)		/* "/" */
		return 1;
	return r->len >= dlen && memcmp(r->prefix, dir, dlen) == 0 &&
	    (r->len == dlen || r->prefix[dlen] == '/');
}

/*
 * The decision, and its scope: the shortest directory D on the way from
 * the covering rule down to path such that no other rule lies at or below
 * D. Then the longest covering rule of every path at or below D is the same
 * (or there is none), so the verdict holds for all of them. 0 when there is
 * no such D (a dev rule covers exactly its path; a rule below path).
 */
enum policy_verdict policy_check_scope(const struct policy *p, const char *path,
    enum policy_access a, size_t *scope)
{
	const struct rule *best = NULL;
	size_t plen = strlen(path), dlen;

	*scope = 0;
	if (p == NULL || !path_is_canonical(path, plen))
		return POLICY_DENY;
	for (size_t i = 0; i < p->count; i++) {
		const struct rule *r = &p->rules[i];

		if (covers(r, path, plen) && (best == NULL || r->len > best->len))
			best = r;
	}
	if (best != NULL && best->kind == RULE_DEV)
		return verdict_of(best, a);
	dlen = best != NULL ? best->len : 1;
	for (;;) {
		size_t i;

		for (i = 0; i < p->count; i++)
			if (&p->rules[i] != best && at_or_below(&p->rules[i], path, dlen))
				break;
		if (i == p->count) {
			*scope = dlen;
			break;
		}
		if (dlen == plen)
			break;
		/* One component further down towards path. */
		dlen = dlen == 1 ? 1 : dlen + 1;
		while (dlen < plen && path[dlen] != '/')
			dlen++;
	}
	return verdict_of(best, a);
}

enum policy_verdict policy_check(const struct policy *p, const char *path, enum policy_access a)
{
	size_t scope;

	return policy_check_scope(p, path, a, &scope);
}

size_t policy_rule_count(const struct policy *p)
{
	return p->count;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->count; i++)
		free(p->rules[i].prefix);
	free(p);
}
