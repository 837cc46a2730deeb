/*
 * spool.c: results on disk until the receiver has them.
 *
 * Owns <work>/spool/: `<id>.running` markers (a task with a notify URL is
 * running), `<id>.json` results waiting for delivery, and dead/ for those
 * given up on. Every file is written to a temp name, fsync'd, renamed into
 * place and the directory fsync'd, so after a crash a file is either whole
 * or absent. A result is written before its running marker is removed, so
 * at every instant one of the two exists and a crash loses nothing; when
 * both exist the result wins (spool_recover()).
 * Never: logs (callers do), deletes a result that was not delivered (dead/
 * keeps those for an operator).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define SPOOL_FILE_MAX (256ULL << 20)	/* results are capped well below this */

static char spool_dir[PATH_MAX];
static char dead_dir[PATH_MAX];
static int spool_fd = -1;

/* Task ids are ours ("t" + digits, '-' and hex), but the spool is read back
 * from disk: check before using one in a path. */
static int id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 40)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') || id[i] == '-'))
			return 0;
	return 1;
}

int spool_init(const char *work_dir, char *err, size_t errlen)
{
	if ((size_t)snprintf(spool_dir, sizeof(spool_dir), "%s/spool", work_dir) >= sizeof(spool_dir) ||
	    (size_t)snprintf(dead_dir, sizeof(dead_dir), "%s/spool/dead", work_dir) >= sizeof(dead_dir))
		return errbuf_set(err, errlen, "work dir path too long");
	if (mkdir_p(dead_dir, 0700) < 0)
		return errbuf_set(err, errlen, "mkdir %s: %s", dead_dir, strerror(errno));
	if (spool_fd >= 0)
		close(spool_fd);
	spool_fd = open(spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (spool_fd < 0)
		return errbuf_set(err, errlen, "open %s: %s", spool_dir, strerror(errno));
	return 0;
}

void spool_fini(void)
{
	if (spool_fd >= 0)
		close(spool_fd);
	spool_fd = -1;
}

/* Writes name atomically and durably inside the spool dir. */
static int write_atomic(const char *name, const char *data, size_t len, char *err, size_t errlen)
{
	char tmp[128];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), ".tmp-%s", name) >= sizeof(tmp))
		return errbuf_set(err, errlen, "spool name too long");
	fd = openat(spool_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errbuf_set(err, errlen, "spool: create %s: %s", tmp, strerror(errno));
	if (write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		errbuf_set(err, errlen, "spool: write %s: %s", tmp, strerror(errno));
		close(fd);
		unlinkat(spool_fd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(spool_fd, tmp, spool_fd, name) < 0) {
		errbuf_set(err, errlen, "spool: rename %s: %s", tmp, strerror(errno));
		unlinkat(spool_fd, tmp, 0);
		return -1;
	}
	if (fsync(spool_fd) < 0)
		return errbuf_set(err, errlen, "spool: fsync dir: %s", strerror(errno));
	return 0;
}

static int write_json(const char *name, json_t *obj, char *err, size_t errlen)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
	int rc;

	if (text == NULL)
		return errbuf_set(err, errlen, "spool: cannot encode %s", name);
	rc = write_atomic(name, text, strlen(text), err, errlen);
	free(text);
	return rc;
}

int spool_mark_running(const char *id, const char *notify, const char *token, char *err, size_t errlen)
{
	char name[64];
	json_t *o;
	int rc;

	if (!id_ok(id))
		return errbuf_set(err, errlen, "spool: bad id");
	snprintf(name, sizeof(name), "%s.running", id);
	o = json_pack("{s:s, s:s, s:s, s:I}", "id", id, "notify", notify, "token", token ? token : "",
	    "started", (json_int_t)time(NULL));
	if (o == NULL)
		return errbuf_set(err, errlen, "spool: cannot encode the marker");
	rc = write_json(name, o, err, errlen);
	json_decref(o);
	return rc;
}

/* The result is durable before the marker goes: one of them always exists. */
int spool_put_result(const char *id, const char *notify, json_t *payload, char *err, size_t errlen)
{
	char name[64];
	json_t *o;
	int rc;

	if (!id_ok(id))
		return errbuf_set(err, errlen, "spool: bad id");
	snprintf(name, sizeof(name), "%s.json", id);
	o = json_pack("{s:s, s:s, s:I, s:O}", "id", id, "notify", notify,
	    "created", (json_int_t)time(NULL), "payload", payload);
	if (o == NULL)
		return errbuf_set(err, errlen, "spool: cannot encode the result");
	rc = write_json(name, o, err, errlen);
	json_decref(o);
	if (rc == 0) {
		snprintf(name, sizeof(name), "%s.running", id);
		if (unlinkat(spool_fd, name, 0) < 0 && errno != ENOENT)
			return errbuf_set(err, errlen, "spool: remove %s: %s", name, strerror(errno));
		fsync(spool_fd);
	}
	return rc;
}

static json_t *load_file(const char *name, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	struct stat st;
	int fd = openat(spool_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f;

	if (fd < 0) {
		errbuf_set(err, errlen, "spool: open %s: %s", name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SPOOL_FILE_MAX) {
		errbuf_set(err, errlen, "spool: %s is not a plausible spool file", name);
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		errbuf_set(err, errlen, "spool: %s: %s", name, strerror(errno));
		return NULL;
	}
	o = json_loadf(f, 0, &jerr);
	fclose(f);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		errbuf_set(err, errlen, "spool: %s: %s", name, jerr.text);
		return NULL;
	}
	return o;
}

int spool_load(const char *id, char **notify, json_t **payload, char *err, size_t errlen)
{
	char name[64];
	json_t *o, *n, *p;

	if (!id_ok(id))
		return errbuf_set(err, errlen, "spool: bad id");
	snprintf(name, sizeof(name), "%s.json", id);
	o = load_file(name, err, errlen);
	if (o == NULL)
		return -1;
	n = json_object_get(o, "notify");
	p = json_object_get(o, "payload");
	if (!json_is_string(n) || !json_is_object(p)) {
		json_decref(o);
		return errbuf_set(err, errlen, "spool: %s lacks notify or payload", name);
	}
	*notify = strdup(json_string_value(n));
	*payload = json_incref(p);
	json_decref(o);
	if (*notify == NULL) {
		json_decref(*payload);
		return errbuf_set(err, errlen, "out of memory");
	}
	return 0;
}

int spool_remove(const char *id)
{
	char name[64];

	if (!id_ok(id))
		return -1;
	snprintf(name, sizeof(name), "%s.json", id);
	if (unlinkat(spool_fd, name, 0) < 0 && errno != ENOENT)
		return -1;
	return fsync(spool_fd);
}

/* Given up: the result moves to dead/ for an operator, never deleted. */
int spool_bury(const char *id)
{
	char name[64], to[80];

	if (!id_ok(id))
		return -1;
	snprintf(name, sizeof(name), "%s.json", id);
	snprintf(to, sizeof(to), "dead/%s", name);
	if (renameat(spool_fd, name, spool_fd, to) < 0)
		return -1;
	return fsync(spool_fd);
}

/* The result a task gets when the sandbox could not make one. */
json_t *spool_internal_result(const char *token, const char *why)
{
	char log[512];

	snprintf(log, sizeof(log), "sandboxd: %s\n", why);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "token", token ? token : "", "status", "failed", "reason", "internal",
	    "output", "", "test_output", "", "stdout", "", "stderr", "", "valgrind", "",
	    "validations", "", "vm_log", log, "error", why);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * At start: temp files of an interrupted write are dropped; a running
 * marker without a result becomes a failed/internal result (the task was
 * cut off by the daemon's death); a marker next to a result is stale (the
 * crash fell between the two steps of spool_put_result) and goes. Returns
 * the ids of all results to deliver, oldest first by name.
 */
int spool_recover(char ***ids, size_t *count, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	char **list = NULL;
	size_t n = 0, cap = 0;
	int dfd = openat(spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*ids = NULL;
	*count = 0;
	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return errbuf_set(err, errlen, "spool: opendir: %s", strerror(errno));
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		char id[64], result[80];
		json_t *m;

		if (strncmp(de->d_name, ".tmp-", 5) == 0) {
			unlinkat(spool_fd, de->d_name, 0);
			continue;
		}
		if (!has_suffix(de->d_name, ".running") || strlen(de->d_name) >= sizeof(id))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(strlen(de->d_name) - 8), de->d_name);
		snprintf(result, sizeof(result), "%s.json", id);
		if (!id_ok(id))
			continue;
		if (faccessat(spool_fd, result, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			unlinkat(spool_fd, de->d_name, 0);
			continue;
		}
		m = load_file(de->d_name, err, errlen);
		if (m != NULL && json_is_string(json_object_get(m, "notify"))) {
			json_t *p = spool_internal_result(json_string_value(json_object_get(m, "token")),
			    "the daemon stopped while this task was running");

			if (p == NULL || spool_put_result(id, json_string_value(json_object_get(m, "notify")),
			    p, err, errlen) < 0) {
				json_decref(p);
				json_decref(m);
				closedir(d);
				return -1;
			}
			json_decref(p);
		} else {
			unlinkat(spool_fd, de->d_name, 0);
		}
		json_decref(m);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!has_suffix(de->d_name, ".json") || de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nl = realloc(list, ncap * sizeof(*nl));

			if (nl == NULL)
				break;
			list = nl;
			cap = ncap;
		}
		list[n] = strndup(de->d_name, strlen(de->d_name) - 5);
		if (list[n] != NULL && id_ok(list[n]))
			n++;
		else
			free(list[n]);
	}
	closedir(d);
	if (n > 0)
		qsort(list, n, sizeof(*list), cmp_names);
	*ids = list;
	*count = n;
	return 0;
}

size_t spool_pending(void)
{
	DIR *d;
	struct dirent *de;
	size_t n = 0;
	/* A fresh open file description: readdir positions are not shared. */
	int dfd = openat(spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		if (has_suffix(de->d_name, ".json") && de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}
