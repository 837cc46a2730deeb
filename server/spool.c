/*
 * spool.c: results on disk until the receiver has them, and the tasks
 * that were running when the daemon stopped.
 *
 * Owns <work>/spool/: `<id>.running` markers (a task with a notify URL is
 * running: its notify URL, token, limits and attempt number), `<id>.tar`
 * (that task's runnable.tar, kept until its result is spooled so that a
 * task cut short by a crash can run once more), `<id>.json` results
 * waiting for delivery, and dead/ for those given up on. Every file is
 * written to a temp name, fsync'd, renamed into place and the directory
 * fsync'd, so after a crash a file is either whole or absent. A result is
 * written before its marker and tar are removed, so at every instant one of
 * the two exists and a crash loses nothing; when both exist the result
 * wins (spool_recover()), so no task runs again once its result is spooled.
 *
 * Bounds (the spool must not fill the disk, whatever clients and receivers
 * do): one result is cut to --result-max after JSON escaping
 * (spool_fit_result); pending and dead results together stay under
 * --spool-max bytes, pending ones under --spool-max-files, with room kept
 * for the running task's result (spool_full() says when a new task must
 * be refused); dead/ keeps --dead-max results for --dead-max-age, and gives
 * way, oldest first, when pending results need the room.
 * Never: logs (callers do), deletes a pending result (only a delivery or
 * burial removes one), or deletes a dead result except under those bounds.
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
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define SPOOL_FILE_MAX (256ULL << 20)	/* results are capped well below this */
#define SPOOL_RESULT_MIN (64ULL << 10)	/* below this the skeleton may not fit */

static char spool_dir[PATH_MAX];
static char dead_dir[PATH_MAX];
static int spool_fd = -1;

/* The accounting, under acct_lock: sizes of the `.json` files in spool/
 * and in dead/, kept current by every function that adds or removes one
 * and rebuilt from the directory at spool_init(). */
static pthread_mutex_t acct_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t pend_bytes, pend_count, dead_bytes, dead_count;
static struct spool_limits limits;	/* all 0: no bounds */

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

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Size of a regular file under the spool dir; 0 when absent. */
static uint64_t file_size(const char *name)
{
	struct stat st;

	if (fstatat(spool_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return (uint64_t)st.st_size;
}

/* Counts the `.json` files of one directory below the spool. */
static void scan_dir(const char *sub, uint64_t *bytes, uint64_t *count)
{
	int dfd = openat(spool_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	*bytes = *count = 0;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".json"))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
			*bytes += (uint64_t)st.st_size;
			(*count)++;
		}
	}
	closedir(d);
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
	pthread_mutex_lock(&acct_lock);
	scan_dir(".", &pend_bytes, &pend_count);
	scan_dir("dead", &dead_bytes, &dead_count);
	pthread_mutex_unlock(&acct_lock);
	return 0;
}

void spool_fini(void)
{
	if (spool_fd >= 0)
		close(spool_fd);
	spool_fd = -1;
}

void spool_set_limits(const struct spool_limits *l)
{
	pthread_mutex_lock(&acct_lock);
	limits = *l;
	pthread_mutex_unlock(&acct_lock);
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

static int write_marker(const struct spool_marker *m, char *err, size_t errlen)
{
	char name[64];
	json_t *o;
	int rc;

	snprintf(name, sizeof(name), "%s.running", m->id);
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", m->id, "notify", m->notify,
	    "token", m->token ? m->token : "", "started", (json_int_t)time(NULL),
	    "timeout", (json_int_t)m->timeout_s, "memory", (json_int_t)m->memory,
	    "attempt", (json_int_t)m->attempt);
	if (o != NULL && m->layers != NULL &&
	    json_object_set_new(o, "layers", json_string(m->layers)) < 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL)
		return errbuf_set(err, errlen, "spool: cannot encode the marker");
	rc = write_json(name, o, err, errlen);
	json_decref(o);
	return rc;
}

/*
 * The task is accepted: its runnable.tar (tar, on the same file system)
 * moves into the spool, then the marker is written. A crash before the
 * marker leaves an orphan tar (dropped at start); after it, the task is
 * run again at start (spool_recover()).
 */
int spool_mark_running(const struct spool_marker *m, const char *tar, char *err, size_t errlen)
{
	/* tar NULL: a re-run, whose tar is kept already; the marker records
	 * the attempt before the run starts. */
	char name[64];

	if (!id_ok(m->id) || m->notify == NULL)
		return errbuf_set(err, errlen, "spool: bad id");
	if (tar != NULL) {
		snprintf(name, sizeof(name), "%s.tar", m->id);
		if (renameat(AT_FDCWD, tar, spool_fd, name) < 0)
			return errbuf_set(err, errlen, "spool: keep %s: %s", tar, strerror(errno));
	}
	return write_marker(m, err, errlen);
}

int spool_tar_path(const char *id, char *buf, size_t len)
{
	if (!id_ok(id) || (size_t)snprintf(buf, len, "%s/%s.tar", spool_dir, id) >= len)
		return -1;
	return 0;
}

/* The result is durable before the marker and the kept tar go: one of
 * them always exists, and the result wins at recovery. */
int spool_put_result(const char *id, const char *notify, json_t *payload, char *err, size_t errlen)
{
	char name[64];
	json_t *o;
	uint64_t before, after;
	int rc;

	if (!id_ok(id))
		return errbuf_set(err, errlen, "spool: bad id");
	snprintf(name, sizeof(name), "%s.json", id);
	o = json_pack("{s:s, s:s, s:I, s:O}", "id", id, "notify", notify,
	    "created", (json_int_t)time(NULL), "payload", payload);
	if (o == NULL)
		return errbuf_set(err, errlen, "spool: cannot encode the result");
	before = file_size(name);
	rc = write_json(name, o, err, errlen);
	json_decref(o);
	if (rc < 0)
		return -1;
	after = file_size(name);
	pthread_mutex_lock(&acct_lock);
	if (before == 0)
		pend_count++;
	pend_bytes = pend_bytes - before + after;
	pthread_mutex_unlock(&acct_lock);
	snprintf(name, sizeof(name), "%s.running", id);
	if (unlinkat(spool_fd, name, 0) < 0 && errno != ENOENT)
		return errbuf_set(err, errlen, "spool: remove %s: %s", name, strerror(errno));
	snprintf(name, sizeof(name), "%s.tar", id);
	if (unlinkat(spool_fd, name, 0) < 0 && errno != ENOENT)
		return errbuf_set(err, errlen, "spool: remove %s: %s", name, strerror(errno));
	fsync(spool_fd);
	return 0;
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
	uint64_t size;

	if (!id_ok(id))
		return -1;
	snprintf(name, sizeof(name), "%s.json", id);
	size = file_size(name);
	if (unlinkat(spool_fd, name, 0) < 0) {
		if (errno != ENOENT)
			return -1;
	} else {
		pthread_mutex_lock(&acct_lock);
		pend_bytes -= size < pend_bytes ? size : pend_bytes;
		pend_count -= pend_count > 0;
		pthread_mutex_unlock(&acct_lock);
	}
	return fsync(spool_fd);
}

struct dead_entry {
	char name[64];
	time_t mtime;
	uint64_t size;
};

static int cmp_dead(const void *a, const void *b)
{
	const struct dead_entry *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Under acct_lock: applies dead/'s retention. Results older than
 * dead_max_age go, then the oldest while there are more than dead_max, then
 * the oldest while pending results plus the running task's reserve need
 * their room under max_bytes. Age is counted from burial (spool_bury sets
 * the time). Returns how many were removed.
 */
static size_t prune_dead_locked(void)
{
	int dfd = openat(spool_fd, "dead", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	struct dead_entry *list = NULL;
	size_t n = 0, cap = 0, removed = 0;
	time_t now = time(NULL);

	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".json") || strlen(de->d_name) >= 64 ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct dead_entry *nl = realloc(list, ncap * sizeof(*nl));

			if (nl == NULL)
				break;
			list = nl;
			cap = ncap;
		}
		memcpy(list[n].name, de->d_name, strlen(de->d_name) + 1);
		list[n].mtime = st.st_mtime;
		list[n].size = (uint64_t)st.st_size;
		n++;
	}
	if (n > 0)
		qsort(list, n, sizeof(*list), cmp_dead);
	dead_count = n;
	dead_bytes = 0;
	for (size_t i = 0; i < n; i++)
		dead_bytes += list[i].size;
	for (size_t i = 0; i < n; i++) {
		int old = limits.dead_max_age > 0 && (double)(now - list[i].mtime) > limits.dead_max_age;
		int many = limits.dead_max > 0 && dead_count > limits.dead_max;
		int room = limits.max_bytes > 0 &&
		    pend_bytes + dead_bytes + limits.reserve > limits.max_bytes;

		if (!old && !many && !room)
			break;
		if (unlinkat(dfd, list[i].name, 0) < 0 && errno != ENOENT)
			continue;
		dead_count--;
		dead_bytes -= list[i].size;
		removed++;
	}
	closedir(d);
	free(list);
	return removed;
}

size_t spool_prune_dead(void)
{
	size_t n;

	pthread_mutex_lock(&acct_lock);
	n = prune_dead_locked();
	pthread_mutex_unlock(&acct_lock);
	return n;
}

/* Given up: the result moves to dead/ for an operator, then dead/'s
 * retention applies. */
int spool_bury(const char *id)
{
	char name[64], to[80];
	uint64_t size;

	if (!id_ok(id))
		return -1;
	snprintf(name, sizeof(name), "%s.json", id);
	snprintf(to, sizeof(to), "dead/%s", name);
	size = file_size(name);
	if (renameat(spool_fd, name, spool_fd, to) < 0)
		return -1;
	/* Retention counts from burial, not from when the result was made. */
	utimensat(spool_fd, to, NULL, AT_SYMLINK_NOFOLLOW);
	pthread_mutex_lock(&acct_lock);
	pend_bytes -= size < pend_bytes ? size : pend_bytes;
	pend_count -= pend_count > 0;
	prune_dead_locked();
	pthread_mutex_unlock(&acct_lock);
	return fsync(spool_fd);
}

/*
 * Whether a new task must be refused because its result might not fit:
 * the pending results plus the running task's reserve are over max_bytes
 * (after dead/ has given way), there are max_files pending results, or the
 * file system has less free space than the reserve. why gets the reason.
 */
int spool_full(char *why, size_t whylen)
{
	struct statvfs vfs;
	int full = 0;

	pthread_mutex_lock(&acct_lock);
	if (limits.max_bytes > 0 && pend_bytes + dead_bytes + limits.reserve > limits.max_bytes)
		prune_dead_locked();
	if (limits.max_files > 0 && pend_count >= limits.max_files)
		full = errbuf_set(why, whylen, "%llu results wait for delivery (--spool-max-files %llu)",
		    (unsigned long long)pend_count, (unsigned long long)limits.max_files);
	else if (limits.max_bytes > 0 && pend_bytes + dead_bytes + limits.reserve > limits.max_bytes)
		full = errbuf_set(why, whylen, "%llu bytes of results wait for delivery; with room for one "
		    "more (%llu) that is over --spool-max %llu", (unsigned long long)pend_bytes,
		    (unsigned long long)limits.reserve, (unsigned long long)limits.max_bytes);
	else if (limits.reserve > 0 && fstatvfs(spool_fd, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < limits.reserve)
		full = errbuf_set(why, whylen, "the file system of the spool has less than %llu bytes free",
		    (unsigned long long)limits.reserve);
	pthread_mutex_unlock(&acct_lock);
	return full ? 1 : 0;
}

void spool_usage(struct spool_usage *u)
{
	pthread_mutex_lock(&acct_lock);
	u->pending = pend_count;
	u->pending_bytes = pend_bytes;
	u->dead = dead_count;
	u->dead_bytes = dead_bytes;
	u->max_bytes = limits.max_bytes;
	u->max_files = limits.max_files;
	pthread_mutex_unlock(&acct_lock);
}

/* Bytes a byte costs in jansson's compact output (no ASCII forcing). */
static size_t escaped_cost(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
		return 2;
	return c < 0x20 ? 6 : 1;
}

static size_t dumped_size(json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_ENCODE_ANY);
}

/* Returns 1 when key was not named in `truncated` yet. */
#define CUT_NOTE "\n[sandboxd: cut here to fit the result size cap]\n"

/* Cuts string member key so that its escaped form shrinks by at least
 * excess bytes; the cut falls on a UTF-8 character boundary. */
static int cut_string(json_t *payload, const char *key, json_t *v, size_t excess)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), note = 0;
	size_t have = dumped_size(v) - 2, budget, used = 0, i = 0;
	char *out;
	int rc;

	for (const char *c = CUT_NOTE; *c != '\0'; c++)
		note += escaped_cost((unsigned char)*c);

	budget = have > excess + note ? have - excess - note : 0;
	while (i < len && used + escaped_cost((unsigned char)s[i]) <= budget)
		used += escaped_cost((unsigned char)s[i++]);
	while (i > 0 && i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	out = malloc(i + sizeof(CUT_NOTE));
	if (out == NULL)
		return -1;
	memcpy(out, s, i);
	memcpy(out + i, CUT_NOTE, sizeof(CUT_NOTE));
	rc = json_object_set_new(payload, key, json_stringn(out, i + sizeof(CUT_NOTE) - 1));
	free(out);
	return rc;
}

/*
 * Bounds one result: while its compact JSON is over cap bytes (counted
 * after escaping, which turns a control byte into six), the largest member
 * other than the identifying ones is cut (text) or emptied (arrays and
 * objects, such as Scout's audit) and named in `truncated`. Returns the
 * number of members cut (0: the result fits as it is), or -1 when the result cannot be brought under cap.
 */
int spool_fit_result(json_t *payload, size_t cap, char *err, size_t errlen)
{
	static const char *const keep[] = { "token", "status", "reason", "exit_code", "truncated", "time" };
	size_t size, rounds = 0;
	int cut = 0;

	if (cap == 0)
		return 0;
	if (cap < SPOOL_RESULT_MIN)
		return errbuf_set(err, errlen, "result cap %zu is below %llu", cap, SPOOL_RESULT_MIN);
	while ((size = dumped_size(payload)) > cap) {
		const char *key, *best = NULL;
		json_t *v, *bestv = NULL;
		size_t bestsize = 0;

		if (size == 0 || ++rounds > 64)
			return errbuf_set(err, errlen, "the result cannot be encoded under %zu bytes", cap);
		json_object_foreach(payload, key, v) {
			size_t k, vs;
			int skip = 0;

			for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
				skip |= strcmp(key, keep[k]) == 0;
			vs = skip ? 0 : dumped_size(v);
			if (vs > bestsize && !(json_is_string(v) && strstr(json_string_value(v), CUT_NOTE) &&
			    vs <= sizeof(CUT_NOTE) + 16)) {
				best = key;
				bestv = v;
				bestsize = vs;
			}
		}
		if (best == NULL || bestsize <= 2)
			return errbuf_set(err, errlen, "the result cannot be cut under %zu bytes", cap);
		{
			char name[64];

			snprintf(name, sizeof(name), "%s", best);
			if (json_is_string(bestv)) {
				/* + room for the name in `truncated`. */
				if (cut_string(payload, name, bestv, size - cap + strlen(name) + 16) < 0)
					return errbuf_set(err, errlen, "out of memory");
			} else if (json_object_set_new(payload, name, json_is_array(bestv) ? json_array() :
			    json_is_object(bestv) ? json_object() : json_null()) < 0) {
				return errbuf_set(err, errlen, "out of memory");
			}
			cut += result_mark_truncated(payload, json_string(name)) > 0;
		}
	}
	return cut;
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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the spool dir, read before any is changed: recovery
 * rewrites markers, and a rewritten one must not be seen twice. */
static char **list_names(size_t *count)
{
	int dfd = openat(spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	char **list = NULL;
	size_t n = 0, cap = 0;

	*count = 0;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nl = realloc(list, ncap * sizeof(*nl));

			if (nl == NULL)
				break;
			list = nl;
			cap = ncap;
		}
		if ((list[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (list == NULL)
		list = calloc(1, sizeof(*list));
	if (list != NULL && n > 0)
		qsort(list, n, sizeof(*list), cmp_names);
	*count = n;
	return list;
}

static void free_names(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int rerun_add(struct spool_rerun **rr, size_t *n, const struct spool_marker *m)
{
	struct spool_rerun *nl = realloc(*rr, (*n + 1) * sizeof(**rr)), *r;

	if (nl == NULL)
		return -1;
	*rr = nl;
	r = &nl[*n];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", m->id);
	r->notify = strdup(m->notify);
	r->token = strdup(m->token ? m->token : "");
	r->timeout_s = m->timeout_s;
	r->memory = m->memory;
	r->attempt = m->attempt;
	r->layers = m->layers != NULL ? strdup(m->layers) : NULL;
	if (r->notify == NULL || r->token == NULL || (m->layers != NULL && r->layers == NULL)) {
		free(r->notify);
		free(r->token);
		free(r->layers);
		return -1;
	}
	(*n)++;
	return 0;
}

void spool_reruns_free(struct spool_rerun *rr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rr[i].notify);
		free(rr[i].token);
		free(rr[i].layers);
	}
	free(rr);
}

static unsigned marker_uint(json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);

	return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < UINT32_MAX ?
	    (unsigned)json_integer_value(v) : 0;
}

/*
 * One running marker at start. With a result next to it, the crash fell
 * between the two steps of spool_put_result: the result stands, the
 * marker and tar go. With its runnable.tar kept and this the first
 * interruption, the task is returned for a re-run as attempt 2 (the runner
 * rewrites the marker when that run starts); otherwise the task gets a
 * failed/internal result. Returns -1 only when that result cannot be written.
 */
static int recover_marker(const char *id, struct spool_rerun **rr, size_t *nrr, char *err, size_t errlen)
{
	char marker[80], result[80], tar[80], why[160];
	json_t *m, *p;
	struct spool_marker sm;
	int rc;

	snprintf(marker, sizeof(marker), "%s.running", id);
	snprintf(result, sizeof(result), "%s.json", id);
	snprintf(tar, sizeof(tar), "%s.tar", id);
	if (faccessat(spool_fd, result, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		unlinkat(spool_fd, marker, 0);
		unlinkat(spool_fd, tar, 0);
		return 0;
	}
	m = load_file(marker, err, errlen);
	if (m == NULL || !json_is_string(json_object_get(m, "notify"))) {
		json_decref(m);
		unlinkat(spool_fd, marker, 0);
		unlinkat(spool_fd, tar, 0);
		return 0;
	}
	sm.id = id;
	sm.notify = json_string_value(json_object_get(m, "notify"));
	sm.token = json_string_value(json_object_get(m, "token"));
	sm.timeout_s = marker_uint(m, "timeout");
	sm.memory = (uint64_t)json_integer_value(json_object_get(m, "memory"));
	sm.attempt = marker_uint(m, "attempt");
	sm.layers = json_string_value(json_object_get(m, "layers"));
	if (sm.attempt == 0)
		sm.attempt = 1;
	if (sm.attempt < 2 && sm.timeout_s > 0 && sm.memory > 0 &&
	    faccessat(spool_fd, tar, R_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		sm.attempt++;
		if (rerun_add(rr, nrr, &sm) == 0) {
			json_decref(m);
			return 0;
		}
	}
	snprintf(why, sizeof(why), "%s", sm.attempt >= 2 ?
	    "the daemon stopped while this task was running, twice (it was run once more after the first time)" :
	    "the daemon stopped while this task was running, and its runnable.tar was not kept");
	p = spool_internal_result(sm.token, why);
	rc = p != NULL && spool_put_result(id, sm.notify, p, err, errlen) == 0 ? 0 : -1;
	if (p == NULL)
		errbuf_set(err, errlen, "out of memory");
	json_decref(p);
	json_decref(m);
	return rc;
}

/*
 * At start: temp files of an interrupted write and tars without a marker
 * are dropped; each running marker is settled (recover_marker). Returns the
 * ids of all results to deliver, oldest first by name, and the tasks to run
 * once more (their tar at spool_tar_path()).
 */
int spool_recover(char ***ids, size_t *count, struct spool_rerun **reruns, size_t *nreruns,
    char *err, size_t errlen)
{
	char **names, **list;
	size_t nn, n = 0;

	*ids = NULL;
	*count = 0;
	*reruns = NULL;
	*nreruns = 0;
	names = list_names(&nn);
	if (names == NULL)
		return errbuf_set(err, errlen, "spool: opendir: %s", strerror(errno));
	for (size_t i = 0; i < nn; i++) {
		char id[48];
		size_t l = strlen(names[i]);

		if (strncmp(names[i], ".tmp-", 5) == 0) {
			unlinkat(spool_fd, names[i], 0);
			continue;
		}
		if (!has_suffix(names[i], ".running") || l - 8 > 40)
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(l - 8), names[i]);
		if (id_ok(id) && recover_marker(id, reruns, nreruns, err, errlen) < 0) {
			free_names(names, nn);
			return -1;
		}
	}
	for (size_t i = 0; i < nn; i++) {
		char marker[80];
		size_t l = strlen(names[i]);

		if (!has_suffix(names[i], ".tar") || l - 4 >= 64)
			continue;
		snprintf(marker, sizeof(marker), "%.*s.running", (int)(l - 4), names[i]);
		if (faccessat(spool_fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
			unlinkat(spool_fd, names[i], 0);
	}
	free_names(names, nn);
	names = list_names(&nn);
	if (names == NULL)
		return errbuf_set(err, errlen, "spool: opendir: %s", strerror(errno));
	list = calloc(nn + 1, sizeof(*list));
	for (size_t i = 0; list != NULL && i < nn; i++) {
		if (!has_suffix(names[i], ".json") || names[i][0] == '.')
			continue;
		list[n] = strndup(names[i], strlen(names[i]) - 5);
		if (list[n] != NULL && id_ok(list[n]))
			n++;
		else
			free(list[n]);
	}
	free_names(names, nn);
	fsync(spool_fd);
	pthread_mutex_lock(&acct_lock);
	scan_dir(".", &pend_bytes, &pend_count);
	pthread_mutex_unlock(&acct_lock);
	*ids = list;
	*count = n;
	return 0;
}

size_t spool_pending(void)
{
	size_t n;

	pthread_mutex_lock(&acct_lock);
	n = (size_t)pend_count;
	pthread_mutex_unlock(&acct_lock);
	return n;
}
