/*
 * http_test.c: sandboxd over real HTTP, with real UML tasks and a real
 * notify receiver.
 *
 * The harness binds the daemon's listening socket itself (127.0.0.1, port
 * 0, so the OS picks) and hands it over with --listen-fd; restarts reuse
 * the same socket, so the port survives a SIGKILL. The receiver is a
 * libmicrohttpd server in this process, also on a port the OS picks; it
 * records every notification, decodes form bodies with libmicrohttpd's own
 * form parser, and can be told to answer 500 or to be down. Task tars are
 * made here with libarchive (a tmc-run shell script).
 *
 *   usage: http_test SANDBOXD IMAGES_DIR [TEST ...]
 *          http_test --bench SANDBOXD IMAGES_DIR   (figures for make bench)
 *   env:   HTTP_TEST_ARGS  extra daemon flags (e.g. "--scout off")
 *          HTTP_TEST_KEEP  keep the per-test work dirs
 *
 * Prints one line per check that fails, one per test, and a closing
 * "N passed, M failed"; exits 1 on any failure. Needs root (UML runs as an
 * unprivileged user only when started by root); says so and fails if not.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/gem_tar.h"
#include "tests/lib/http_harness.h"

static const char *daemon_bin, *images_dir;
static char tmp_root[64];
/* ------------------------------------------------------------------ daemon */

/* Starts (or restarts) the daemon on d's socket with the given extra flags
 * (NULL-terminated), then those of HTTP_TEST_ARGS; waits until it answers. */
static int daemon_start(struct harness_daemon *d, const char *const *extra)
{
	const char *argv[56];
	size_t n = 0;
	char *envargs = getenv("HTTP_TEST_ARGS") ? strdup(getenv("HTTP_TEST_ARGS")) : NULL;
	int rc;

	argv[n++] = "--images-dir";
	argv[n++] = images_dir;
	argv[n++] = "--retry-max";
	argv[n++] = "1s";
	for (; extra != NULL && *extra != NULL && n < 40; extra++)
		argv[n++] = *extra;
	for (char *s = envargs ? strtok(envargs, " ") : NULL; s != NULL && n < 52; s = strtok(NULL, " "))
		argv[n++] = s;
	argv[n] = NULL;
	rc = harness_daemon_start(d, d->bin ? d->bin : daemon_bin, argv);
	free(envargs);
	return rc;
}

/* Files in dir (recursively, not counting directories); a pre-booted
 * guest's dir (tasks/tmc-preboot-*, waiting for the next task) only when
 * with_preboot: it is the instance's state, not a task's leftover. */
static int count_files_ex(const char *dir, int with_preboot)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (dp == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		char p[1024];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && !with_preboot &&
		    strncmp(de->d_name, "tmc-preboot-", 12) == 0)
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_files_ex(p, with_preboot);
		else
			n++;
	}
	closedir(dp);
	return n;
}

static int count_files(const char *dir)
{
	return count_files_ex(dir, 0);
}

static int work_files(struct harness_daemon *d, const char *sub)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", d->work, sub);
	return count_files(p);
}

/* Also a pre-booted guest's files: for checks after the daemon stopped. */
static int work_files_all(struct harness_daemon *d, const char *sub)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", d->work, sub);
	return count_files_ex(p, 1);
}

static int count_fds(pid_t pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	return count_files(p);
}

/* ------------------------------------------------------------------ client */

/* The tmc-server way: multipart/form-data, 120 s to answer. */
static long post_task(unsigned port, const char *path, const struct harness_part *parts, char **body)
{
	return harness_post_task(port, path, parts, 120, body);
}

/* Raw bytes over TCP (for requests curl will not make); returns the status
 * code of the answer, 0 when none came. */
static long raw_request(unsigned port, const char *req, size_t len, char *resp, size_t resplen)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0, off = 0;
	long code = 0;
	double until = harness_now_s() + 10;

	resp[0] = '\0';
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (got + 1 < resplen && harness_now_s() < until) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(fd, resp + got, resplen - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		resp[got] = '\0';
	}
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %ld", &code) != 1)
		code = 0;
	return code;
}

/* ------------------------------------------------------------- task tars */

struct tent {
	const char *name;
	mode_t type;
	const char *data;	/* regular files */
	int64_t size;		/* when data is NULL: zeros */
	const char *link;
	const char *hard;
};

enum comp { C_NONE, C_GZIP, C_XZ };

static int make_tar(const char *path, enum comp comp, const struct tent *e, size_t n_many)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	static char zeros[65536];

	archive_write_set_format_pax_restricted(a);
	if (comp == C_GZIP)
		archive_write_add_filter_gzip(a);
	else if (comp == C_XZ)
		archive_write_add_filter_xz(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		return -1;
	for (; e->name != NULL; e++) {
		int64_t size = e->data ? (int64_t)strlen(e->data) : e->size;

		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, e->name);
		archive_entry_set_filetype(ae, e->type);
		archive_entry_set_perm(ae, strcmp(e->name, "tmc-run") == 0 ? 0755 : 0644);
		if (e->link)
			archive_entry_set_symlink(ae, e->link);
		if (e->hard)
			archive_entry_set_hardlink(ae, e->hard);
		if (e->type == AE_IFCHR)
			archive_entry_set_rdev(ae, makedev(1, 3));
		archive_entry_set_size(ae, e->type == AE_IFREG && !e->hard ? size : 0);
		archive_write_header(a, ae);
		if (e->type == AE_IFREG && !e->hard) {
			if (e->data) {
				archive_write_data(a, e->data, (size_t)size);
			} else {
				for (int64_t left = size; left > 0;) {
					size_t k = left > (int64_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;

					archive_write_data(a, zeros, k);
					left -= (int64_t)k;
				}
			}
		}
	}
	for (size_t i = 0; i < n_many; i++) {
		char name[32];

		snprintf(name, sizeof(name), "d%zu/f%zu", i / 1000, i);
		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, name);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, 0);
		archive_write_header(a, ae);
	}
	archive_entry_free(ae);
	archive_write_close(a);
	archive_write_free(a);
	return 0;
}

#define RUN_SCRIPT(s) { "tmc-run", AE_IFREG, "#!/bin/sh\n" s, 0, NULL, NULL }
#define TEND { NULL, 0, NULL, 0, NULL, NULL }

static const char *task_tar(const char *name, const char *script)
{
	static char path[64][300];
	static int next;
	char *p = path[next++ % 64];
	const struct tent e[] = { { "tmc-run", AE_IFREG, script, 0, NULL, NULL }, TEND };

	snprintf(p, 300, "%s/%s.tar", tmp_root, name);
	make_tar(p, C_NONE, e, 0);
	return p;
}

#define ECHO_TASK "#!/bin/sh\necho 'hello out'\necho 'hello err' >&2\n" \
	"printf 'TEST OK\\n' > test_output.txt\nexit 0\n"

/* ------------------------------------------------------------------ tests */

static int wait_file(const char *dir, const char *suffix, double timeout)
{
	double until = harness_now_s() + timeout;

	while (harness_now_s() < until) {
		DIR *dp = opendir(dir);
		struct dirent *de;
		int found = 0;

		while (dp != NULL && (de = readdir(dp)) != NULL) {
			size_t l = strlen(de->d_name), sl = strlen(suffix);

			if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0 && de->d_name[0] != '.')
				found = 1;
		}
		if (dp != NULL)
			closedir(dp);
		if (found)
			return 0;
		usleep(20000);
	}
	return -1;
}

static void check_echo_note(size_t i, const char *token)
{
	const char *s;

	CHECK(harness_rx_str(i, "token") && strcmp(harness_rx_str(i, "token"), token) == 0, "token '%s' != '%s'",
	    harness_rx_str(i, "token") ? harness_rx_str(i, "token") : "(none)", token);
	CHECK((s = harness_rx_str(i, "status")) && strcmp(s, "finished") == 0, "status %s", s ? s : "(none)");
	CHECK((s = harness_rx_str(i, "exit_code")) && strcmp(s, "0") == 0, "exit_code %s", s ? s : "(none)");
	CHECK((s = harness_rx_str(i, "stdout")) && strcmp(s, "hello out\n") == 0, "stdout '%s'", s ? s : "(none)");
	CHECK((s = harness_rx_str(i, "stderr")) && strcmp(s, "hello err\n") == 0, "stderr '%s'", s ? s : "(none)");
	CHECK((s = harness_rx_str(i, "test_output")) && strcmp(s, "TEST OK\n") == 0, "test_output '%s'", s ? s : "(none)");
	CHECK((s = harness_rx_str(i, "vm_log")) && strstr(s, "tmc-init") != NULL, "vm_log '%s'", s ? s : "(none)");
	CHECK(harness_rx_str(i, "output") != NULL && harness_rx_str(i, "valgrind") != NULL &&
	    harness_rx_str(i, "validations") != NULL,
	    "output/valgrind/validations missing");
}

static void test_tmc_client(int form)
{
	struct harness_daemon d;
	char url[128], *body = NULL;
	const char *extra[] = { "--notify-format", form ? "form" : "json", NULL };
	const char *tok = "tok-123 &=+%/\xc3\xa4";
	long code;

	harness_daemon_init(&d, tmp_root, form ? "client_form" : "client_json");
	harness_rx_reset();
	CHECK(daemon_start(&d, extra) == 0, "daemon did not start (log %s)", d.log);
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", tok, 0, 0 }, { NULL, NULL, 0, 0 } };

		code = post_task(d.port, "/tasks.json", parts, &body);
	}
	CHECK(code == 200, "POST -> %ld", code);
	CHECK(body && strcmp(body, "{\"status\":\"ok\"}") == 0, "body %s", body ? body : "(null)");
	free(body);
	CHECK(harness_rx_wait(1, 60) == 1, "no notification");
	if (harness_rx.nnotes >= 1) {
		CHECK(strncmp(harness_rx.notes[0].ctype, form ? "application/x-www-form-urlencoded" : "application/json",
		    form ? 33 : 16) == 0, "Content-Type %s", harness_rx.notes[0].ctype);
		CHECK(harness_rx.notes[0].fields != NULL, "notification not decodable: %.200s", harness_rx.notes[0].body);
		check_echo_note(0, tok);
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "incoming") == 0 && work_files(&d, "tasks") == 0, "work dir not empty");
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

static void test_tmc_client_json(void) { test_tmc_client(0); }
static void test_tmc_client_form(void) { test_tmc_client(1); }

/* The value of one sample line `name value` of a /metrics body; -1 when
 * the line is missing. */
static double metric(const char *body, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = body; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* The status page's files are built in: / and the files it loads, and
 * pool/instances.json naming this instance alone. */
static void check_page_files(unsigned port)
{
	static const struct {
		const char *path, *want;
	} files[] = {
		{ "/", "<script src=\"status.js\">" },
		{ "/index.html", "<script src=\"status.js\">" },
		{ "/status.js", "history.json" },
		{ "/status.css", ".task.status-failed" },
		{ "/pool/instances.json", "\"single\":true" },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *body = NULL;
		long code = harness_http_get(port, files[i].path, &body);

		CHECK(code == 200 && body && strstr(body, files[i].want), "GET %s -> %ld, without '%s'", files[i].path,
		    code, files[i].want);
		free(body);
	}
}

/* history.json after exactly one task, of this status and reason: the
 * task, the same as status.json's last_result, counted in the last hour. */
static void check_history_one(unsigned port, const char *status, const char *reason)
{
	char *body = NULL, *sbody = NULL;
	long code = harness_http_get(port, "/history.json", &body);
	json_t *h = body ? json_loads(body, 0, NULL) : NULL, *tasks = json_object_get(h, "tasks"), *t;
	json_t *st;
	size_t i;
	json_t *c;
	json_int_t counted = -1;

	harness_http_get(port, "/status.json", &sbody);
	st = sbody ? json_loads(sbody, 0, NULL) : NULL;
	t = json_array_get(tasks, 0);
	CHECK(code == 200 && json_array_size(tasks) == 1, "history.json -> %ld: %.300s", code, body ?: "");
	CHECK(strcmp(json_string_value(json_object_get(t, "status")) ?: "", status) == 0 &&
	    strcmp(json_string_value(json_object_get(t, "reason")) ?: "", reason ?: "") == 0 &&
	    json_is_number(json_object_get(t, "total")), "history task %.300s", body ?: "");
	CHECK(strcmp(json_string_value(json_object_get(t, "id")) ?: "a",
	    json_string_value(json_object_get(json_object_get(st, "last_result"), "id")) ?: "b") == 0,
	    "history's task is not status.json's last_result: %s", sbody ?: "");
	json_array_foreach(json_object_get(h, "last_hour"), i, c) {
		const char *r = json_string_value(json_object_get(c, "reason"));

		if (strcmp(json_string_value(json_object_get(c, "status")) ?: "", status) == 0 &&
		    strcmp(r ?: "", reason ?: "") == 0)
			counted = json_integer_value(json_object_get(c, "count"));
		else
			CHECK(json_integer_value(json_object_get(c, "count")) == 0, "counted as %s/%s too",
			    json_string_value(json_object_get(c, "status")), r ?: "-");
	}
	CHECK(counted == 1, "last_hour counts %s/%s %lld times", status, reason ?: "-", (long long)counted);
	CHECK(json_array_size(json_object_get(json_object_get(h, "backlog"), "pending")) == 360,
	    "backlog series: %.300s", body ?: "");
	json_decref(h);
	json_decref(st);
	free(body);
	free(sbody);
}

static void test_wait_and_pages(void)
{
	struct harness_daemon d;
	char *body = NULL;
	json_t *j;
	long code;
	int have_memory = 0;
	const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
		{ "token", "w", 0, 0 }, { "wait", "1", 0, 0 }, { NULL, NULL, 0, 0 } };

	harness_daemon_init(&d, tmp_root, "wait");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	code = post_task(d.port, "/", parts, &body);
	CHECK(code == 200, "POST wait=1 -> %ld", code);
	j = body ? json_loads(body, 0, NULL) : NULL;
	CHECK(j && strcmp(json_string_value(json_object_get(j, "status")) ?: "", "finished") == 0 &&
	    strcmp(json_string_value(json_object_get(j, "token")) ?: "", "w") == 0, "body %.300s", body);
	{
		json_t *t = json_object_get(j, "time");
		double collect = json_number_value(json_object_get(t, "collect"));

		/* collect runs from tmc-run's end to the result read: after the
		 * guest is gone, so at least the tail of total after the run. */
		CHECK(json_is_number(json_object_get(t, "collect")) && collect > 0 &&
		    collect >= json_number_value(json_object_get(t, "total")) -
		    json_number_value(json_object_get(t, "boot")) - json_number_value(json_object_get(t, "run")) - 1e-6,
		    "time.collect: %s", body ?: "");
		have_memory = json_is_integer(json_object_get(j, "memory"));
	}
	json_decref(j);
	free(body);
	code = harness_http_get(d.port, "/status.json", &body);
	j = body ? json_loads(body, 0, NULL) : NULL;
	CHECK(code == 200 && j && json_integer_value(json_object_get(j, "busy_instances")) == 0 &&
	    json_integer_value(json_object_get(j, "total_instances")) == 1 &&
	    json_array_size(json_object_get(j, "loadavg")) == 3 &&
	    json_integer_value(json_object_get(j, "tasks_run")) == 1, "status.json %s", body);
	json_decref(j);
	free(body);
	check_page_files(d.port);
	check_history_one(d.port, "finished", NULL);
	code = harness_http_get(d.port, "/metrics", &body);
	CHECK(code == 200 && body && strstr(body, "sandboxd_tasks_total{status=\"finished\"} 1") &&
	    strstr(body, "sandboxd_busy 0") && strstr(body, "sandboxd_task_duration_seconds_bucket"),
	    "metrics %s", body);
	/* One task: one observation of each sandbox phase, none of notify
	 * (wait=1 delivers nothing), no failure. */
	CHECK(metric(body, "sandboxd_task_phase_seconds_count{phase=\"boot\"}") == 1 &&
	    metric(body, "sandboxd_task_phase_seconds_count{phase=\"run\"}") == 1 &&
	    metric(body, "sandboxd_task_phase_seconds_count{phase=\"collect\"}") == 1 &&
	    metric(body, "sandboxd_task_phase_seconds_count{phase=\"notify\"}") == 0 &&
	    metric(body, "sandboxd_task_phase_seconds_bucket{phase=\"boot\",le=\"+Inf\"}") == 1,
	    "phase histograms: %s", body ?: "");
	CHECK(metric(body, "sandboxd_task_failures_total{reason=\"exit\"}") == 0 &&
	    metric(body, "sandboxd_current_task_age_seconds") == 0, "failures/current task: %s", body ?: "");
	CHECK(metric(body, "sandboxd_guest_memory_peak_bytes_count") == (have_memory ? 1 : 0),
	    "memory peak count %g, the result %s a memory peak",
	    metric(body, "sandboxd_guest_memory_peak_bytes_count"), have_memory ? "had" : "had no");
	free(body);
	harness_daemon_fini(&d);
}

static void test_busy(void)
{
	struct harness_daemon d;
	char url[128], *body = NULL;
	long code;

	harness_daemon_init(&d, tmp_root, "busy");
	harness_rx_reset();
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part slow[] = { { "file", task_tar("sleep", "#!/bin/sh\nsleep 3\n"), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "first", 0, 0 }, { NULL, NULL, 0, 0 } };
		const struct harness_part again[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "second", 0, 0 }, { NULL, NULL, 0, 0 } };

		code = post_task(d.port, "/tasks.json", slow, NULL);
		CHECK(code == 200, "first POST -> %ld", code);
		code = post_task(d.port, "/tasks.json", again, &body);
		CHECK(code == 500, "second POST -> %ld", code);
		CHECK(body && strcmp(body, "{\"status\":\"busy\"}") == 0, "busy body %s", body);
		free(body);
		code = harness_http_get(d.port, "/status.json", &body);
		CHECK(body && strstr(body, "\"busy_instances\":1"), "status while busy: %s", body);
		free(body);
	}
	CHECK(harness_rx_wait(1, 60) == 1 && strcmp(harness_rx_str(0, "token") ?: "", "first") == 0,
	    "first task not notified");
	harness_daemon_fini(&d);
}

struct conc {
	unsigned port;
	const char *tar;
	const char *url;
	pthread_barrier_t *bar;
	long code;
};

static void *conc_post(void *arg)
{
	struct conc *c = arg;
	const struct harness_part parts[] = { { "file", c->tar, 0, 1 }, { "notify", c->url, 0, 0 },
		{ "token", "c", 0, 0 }, { NULL, NULL, 0, 0 } };

	pthread_barrier_wait(c->bar);
	c->code = post_task(c->port, "/tasks.json", parts, NULL);
	return NULL;
}

static void test_concurrent(void)
{
	struct harness_daemon d;
	char url[128];
	pthread_t th[20];
	struct conc c[20];
	pthread_barrier_t bar;
	int ok = 0, busy = 0;
	const char *tar = task_tar("sleep2", "#!/bin/sh\nsleep 2\n");

	harness_daemon_init(&d, tmp_root, "concurrent");
	harness_rx_reset();
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), harness_rx.port);
	pthread_barrier_init(&bar, NULL, 20);
	for (int i = 0; i < 20; i++) {
		c[i] = (struct conc){ d.port, tar, url, &bar, 0 };
		pthread_create(&th[i], NULL, conc_post, &c[i]);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(th[i], NULL);
		ok += c[i].code == 200;
		busy += c[i].code == 500;
	}
	pthread_barrier_destroy(&bar);
	CHECK(ok == 1 && busy == 19, "%d got 200, %d got 500", ok, busy);
	CHECK(harness_rx_wait(1, 60) == 1, "no notification");
	usleep(300000);
	CHECK(harness_rx.nnotes == 1, "%zu notifications", harness_rx.nnotes);
	harness_daemon_fini(&d);
}

/* The bad-input matrix. */
enum bad_kind { BK_PARTS, BK_RAW };

struct bad {
	const char *what;
	long want;		/* HTTP code */
	const char *want_err;	/* substring of the answer */
	const char *tar;	/* BK_PARTS: the file part (NULL: none) */
	const char *token;
	size_t token_len;
	const char *notify;
	const char *raw;	/* a raw request: request line and headers */
	const char *raw_body;	/* its body (Content-Length added), or NULL */
};

static char bad_paths[16][300];

#define AE5 "\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4\xC3\xA4"
#define AE60 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5

static const char *bad_tar(int i, enum comp comp, const struct tent *e, size_t many)
{
	snprintf(bad_paths[i], sizeof(bad_paths[i]), "%s/bad%d.tar", tmp_root, i);
	make_tar(bad_paths[i], comp, e, many);
	return bad_paths[i];
}

static void test_bad_inputs(void)
{
	struct harness_daemon d;
	/* Loopback denied, so that a loopback address in any spelling, and a
	 * name resolving to one, show the operator's list at work. */
	const char *extra[] = { "--upload-cap", "4M", "--notify-deny", "127.0.0.0/8,::1", NULL };
	char path[300];
	const struct tent run = RUN_SCRIPT("echo x\n");
	const struct tent dotdot[] = { run, { "../x", AE_IFREG, "x", 0, NULL, NULL }, TEND };
	const struct tent abs[] = { run, { "/etc/x", AE_IFREG, "x", 0, NULL, NULL }, TEND };
	const struct tent dev[] = { run, { "null", AE_IFCHR, NULL, 0, NULL, NULL }, TEND };
	const struct tent sym[] = { run, { "s", AE_IFLNK, NULL, 0, "/etc/shadow", NULL }, TEND };
	const struct tent hard[] = { run, { "h", AE_IFREG, NULL, 0, NULL, "/etc/shadow" }, TEND };
	const struct tent only_run[] = { run, TEND };
	const struct tent bomb[] = { run, { "bomb", AE_IFREG, NULL, 100LL << 20, NULL, NULL }, TEND };
	const struct tent big[] = { run, { "big", AE_IFREG, NULL, 5LL << 20, NULL, NULL }, TEND };
	const struct tent over[] = { run, { "big", AE_IFREG, NULL, (4LL << 20) + 100000, NULL, NULL }, TEND };
	/* A 255-byte multibyte path whose last part (120 bytes) fits no ustar
	 * header: refused with the entry's name, the answer valid JSON even
	 * though the name is cut for the message. */
	const struct tent mb_long[] = { run, { "d/" AE60 AE60 AE5 "xyz", AE_IFREG, "x", 0, NULL, NULL }, TEND };
	const struct tent below_link[] = { run, { "l", AE_IFLNK, NULL, 0, "src", NULL },
		{ "l/x", AE_IFREG, "x", 0, NULL, NULL }, TEND };
	FILE *f;

	snprintf(path, sizeof(path), "%s/empty", tmp_root);
	f = fopen(path, "w");
	fclose(f);
	snprintf(bad_paths[0], sizeof(bad_paths[0]), "%s", path);
	snprintf(bad_paths[1], sizeof(bad_paths[1]), "%s/text", tmp_root);
	f = fopen(bad_paths[1], "w");
	fputs("this is not a tar archive, just text\n", f);
	fclose(f);
	bad_tar(2, C_NONE, big, 0);
	CHECK(truncate(bad_paths[2], 3000) == 0, "truncate");
	bad_tar(3, C_NONE, dotdot, 0);
	bad_tar(4, C_NONE, abs, 0);
	bad_tar(5, C_NONE, dev, 0);
	bad_tar(6, C_NONE, sym, 0);
	bad_tar(7, C_NONE, hard, 0);
	bad_tar(8, C_XZ, only_run, 100000);
	bad_tar(9, C_GZIP, bomb, 0);
	bad_tar(10, C_NONE, big, 0);
	bad_tar(11, C_NONE, only_run, 0);
	bad_tar(12, C_NONE, over, 0);
	bad_tar(13, C_NONE, mb_long, 0);
	bad_tar(14, C_NONE, below_link, 0);

	{
		static char huge_hdr[200000];
		const struct bad rows[] = {
			{ "no file", 400, "no 'file' part", NULL, "t", 0, NULL, NULL, 0 },
			{ "empty file", 400, "empty", bad_paths[0], NULL, 0, NULL, NULL, 0 },
			{ "not a tar", 400, "not a tar", bad_paths[1], NULL, 0, NULL, NULL, 0 },
			{ "truncated tar", 400, "truncated", bad_paths[2], NULL, 0, NULL, NULL, 0 },
			{ "../x", 400, "'..' in path", bad_paths[3], NULL, 0, NULL, NULL, 0 },
			{ "/etc/x", 400, "absolute path", bad_paths[4], NULL, 0, NULL, NULL, 0 },
			{ "device node", 400, "character device", bad_paths[5], NULL, 0, NULL, NULL, 0 },
			{ "symlink to /etc/shadow", 400, "points outside", bad_paths[6], NULL, 0, NULL, NULL, 0 },
			{ "hardlink out of tree", 400, "points outside", bad_paths[7], NULL, 0, NULL, NULL, 0 },
			{ "100k entries", 400, "more than 10000 entries", bad_paths[8], NULL, 0, NULL, NULL, 0 },
			{ "tar bomb", 400, "over the cap", bad_paths[9], NULL, 0, NULL, NULL, 0 },
			{ "body over cap", 413, "upload cap", bad_paths[10], NULL, 0, NULL, NULL, 0 },
			{ "file part over cap", 413, "upload cap", bad_paths[12], NULL, 0, NULL, NULL, 0 },
			{ "255-byte multibyte name, no ustar fit", 400, "\xC3\xA4': name does not fit a ustar header",
			  bad_paths[13], NULL, 0, NULL, NULL, 0 },
			{ "entry below a symlink", 400, "entry 'l/x': lies below the symlink 'l'", bad_paths[14],
			  NULL, 0, NULL, NULL, 0 },
			{ "non-UTF-8 token", 400, "token is not valid UTF-8", bad_paths[11], "ab\xff\xfe", 4, NULL, NULL, 0 },
			{ "notify ftp", 400, "http:// or https://", bad_paths[11], NULL, 0, "ftp://127.0.0.1/x", NULL, 0 },
			{ "notify file", 400, "http:// or https://", bad_paths[11], NULL, 0, "file:///etc/passwd", NULL, 0 },
			{ "notify garbage", 400, "notify URL", bad_paths[11], NULL, 0, "http://", NULL, 0 },
			{ "notify metadata IP", 400, "link-local", bad_paths[11], NULL, 0,
			  "http://169.254.169.254/latest/meta-data/iam/security-credentials/", NULL, 0 },
			{ "notify metadata hex", 400, "link-local", bad_paths[11], NULL, 0, "http://0xa9fea9fe/", NULL, 0 },
			{ "notify metadata v6map", 400, "link-local", bad_paths[11], NULL, 0,
			  "http://[::ffff:169.254.169.254]/", NULL, 0 },
			{ "notify multicast", 400, "multicast", bad_paths[11], NULL, 0, "http://224.0.0.1/", NULL, 0 },
			{ "notify hex loopback", 400, "notify-deny", bad_paths[11], NULL, 0, "http://0x7f000001:9/x", NULL, 0 },
			{ "notify [::1]", 400, "notify-deny", bad_paths[11], NULL, 0, "http://[::1]:9/x", NULL, 0 },
			{ "notify name->denied", 400, "notify-deny", bad_paths[11], NULL, 0, "http://localhost:9/x", NULL, 0 },
			{ "no boundary", 400, "boundary", NULL, NULL, 0, NULL,
			  "POST /tasks.json HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\n", "hello" },
			{ "unterminated part", 400, "ends before the closing boundary", NULL, NULL, 0, NULL,
			  "POST /tasks.json HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n",
			  "--zz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabcdefghijklmnop" },
			{ "unterminated headers", 400, "ends before the closing boundary", NULL, NULL, 0, NULL,
			  "POST /tasks.json HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n",
			  "--zz\r\nContent-Disposition: form-data; name=\"fi" },
			{ "not multipart", 400, "multipart/form-data", NULL, NULL, 0, NULL,
			  "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", "{}" },
			{ "wrong method", 405, "method_not_allowed", NULL, NULL, 0, NULL,
			  "DELETE /tasks.json HTTP/1.1\r\nHost: x\r\n", NULL },
			{ "PUT status", 405, "method_not_allowed", NULL, NULL, 0, NULL,
			  "PUT /status.json HTTP/1.1\r\nHost: x\r\n", "" },
			{ "unknown path", 404, "not_found", NULL, NULL, 0, NULL,
			  "GET /nope HTTP/1.1\r\nHost: x\r\n", NULL },
			{ "huge header", 431, "", NULL, NULL, 0, NULL, huge_hdr, NULL },
		};
		long code;
		char *body = NULL, resp[4096];

		snprintf(huge_hdr, sizeof(huge_hdr), "GET /status.json HTTP/1.1\r\nHost: x\r\nX-Big: ");
		memset(huge_hdr + strlen(huge_hdr), 'A', 150000);
		strcat(huge_hdr, "\r\n");

		harness_daemon_init(&d, tmp_root, "bad_inputs");
		CHECK(daemon_start(&d, extra) == 0, "daemon did not start");
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct bad *r = &rows[i];
			int okcode;
			long got;

			if (r->raw != NULL) {
				char *req = NULL;
				int len = r->raw_body ?
				    asprintf(&req, "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", r->raw,
					strlen(r->raw_body), r->raw_body) :
				    asprintf(&req, "%sConnection: close\r\n\r\n", r->raw);

				code = len > 0 ? raw_request(d.port, req, (size_t)len, resp, sizeof(resp)) : 0;
				free(req);
				body = strdup(strstr(resp, "\r\n\r\n") ? strstr(resp, "\r\n\r\n") + 4 : resp);
			} else {
				struct harness_part parts[5];
				size_t n = 0;

				if (r->tar)
					parts[n++] = (struct harness_part){ "file", r->tar, 0, 1 };
				if (r->token)
					parts[n++] = (struct harness_part){ "token", r->token, r->token_len, 0 };
				if (r->notify)
					parts[n++] = (struct harness_part){ "notify", r->notify, 0, 0 };
				parts[n] = (struct harness_part){ NULL, NULL, 0, 0 };
				code = post_task(d.port, "/tasks.json", parts, &body);
			}
			got = code;
			okcode = r->want == 431 ? (code >= 400 && code < 500) : code == r->want;
			CHECK(okcode, "%s: HTTP %ld, wanted %ld (%s)", r->what, code, r->want, body ? body : "");
			CHECK(body && strstr(body, r->want_err), "%s: answer '%s' lacks '%s'", r->what,
			    body ? body : "", r->want_err);
			if (r->tar != NULL) {
				json_t *j = body ? json_loads(body, 0, NULL) : NULL;

				CHECK(j != NULL, "%s: answer is not JSON: '%s'", r->what, body ? body : "");
				json_decref(j);
			}
			free(body);
			body = NULL;
			code = harness_http_get(d.port, "/status.json", &body);
			CHECK(code == 200 && body && strstr(body, "\"busy_instances\":0"), "%s: daemon not serving idle: %s",
			    r->what, body ? body : "");
			free(body);
			body = NULL;
			CHECK(work_files(&d, "incoming") == 0 && work_files(&d, "tasks") == 0 && work_files(&d, "spool") == 0,
			    "%s: left files in the work dir", r->what);
			printf("    %-24s -> %ld\n", r->what, got);
		}
		harness_daemon_fini(&d);
	}
}

/* Issue 9.5: tars as users make them, with the tools they have. A tree
 * without directory entries (`tar cf t.tar tmc-run src/Main.java`), with
 * an inner symlink, a hard link, a 160-byte name and a 255-byte multibyte
 * path, packed by GNU tar, bsdtar, Python's tarfile and in the layout of
 * Ruby's Gem::Package::TarWriter (made here: no hard links in that layout,
 * the linked file comes twice), each POSTed with wait=1. tmc-run prints
 * what it finds; every layout must finish with the same output. */
#define LAYOUT_MB_DIR "src/" AE60 AE5 AE5 AE5				/* 154 bytes */
#define LAYOUT_MB_PATH LAYOUT_MB_DIR "/" AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5 AE5	/* 255 bytes */
#define LAYOUT_LONG "long/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.txt"
#define LAYOUT_RUN "#!/bin/sh\n" \
	"echo \"main: $(cat src/Main.java)\"\n" \
	"echo \"via symlink: $(cat lib/Main.java)\"\n" \
	"echo \"up: $(head -n1 src/up)\"\n" \
	"if [ \"$(stat -c %i src/Main.java)\" = \"$(stat -c %i src/Main2.java)\" ]; then echo 'hard: linked';" \
	" else echo \"hard: copy $(cat src/Main2.java)\"; fi\n" \
	"echo \"deep: $(cat src/deep/nested/x.txt)\"\n" \
	"echo \"long: $(cat long/*/*.txt)\"\n" \
	"for f in src/*/*; do [ -f \"$f\" ] && echo \"multibyte: $(printf %s \"$f\" | wc -c) $(cat \"$f\")\"; done\n" \
	"exit 0\n"

_Static_assert(sizeof(LAYOUT_MB_PATH) - 1 == 255, "a 255-byte path");

static const struct gem_tar_file layout_tree[] = {
	{ "tmc-run", LAYOUT_RUN, NULL, NULL },
	{ "src/Main.java", "class Main {}", NULL, NULL },
	{ "src/Main2.java", NULL, NULL, "src/Main.java" },
	{ "lib", NULL, "src", NULL },
	{ "src/up", NULL, "../tmc-run", NULL },
	{ "src/deep/nested/x.txt", "deep", NULL, NULL },
	{ LAYOUT_LONG, "long", NULL, NULL },
	{ LAYOUT_MB_PATH, "mb", NULL, NULL },
};
#define LAYOUT_N (sizeof(layout_tree) / sizeof(layout_tree[0]))

static int layout_make_tree(const char *root)
{
	char path[1024];

	for (size_t i = 0; i < LAYOUT_N; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, layout_tree[i].name);
		for (char *p = strchr(path + strlen(root) + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
		if (layout_tree[i].data != NULL) {
			FILE *f = fopen(path, "w");

			if (f == NULL || fputs(layout_tree[i].data, f) < 0 || fclose(f) != 0 ||
			    chmod(path, strcmp(layout_tree[i].name, "tmc-run") == 0 ? 0755 : 0644) < 0)
				return -1;
		} else if (layout_tree[i].link != NULL) {
			if (symlink(layout_tree[i].link, path) < 0)
				return -1;
		} else {
			char target[1024];

			snprintf(target, sizeof(target), "%s/%s", root, layout_tree[i].hard);
			if (link(target, path) < 0)
				return -1;
		}
	}
	return 0;
}

static void test_tar_layouts(void)
{
	static const struct {
		const char *what, *tool, *cmd;	/* cmd: %s is the output; the names follow */
		int hard_kept;
	} layouts[] = {
		{ "GNU tar (gnu)", "tar", "tar --format=gnu -cf %s", 1 },
		{ "GNU tar (ustar)", "tar", "tar --format=ustar -cf %s", 1 },
		{ "GNU tar (pax)", "tar", "tar --format=pax -cf %s", 1 },
		{ "bsdtar", "bsdtar", "bsdtar -cf %s", 1 },
		{ "Python tarfile (GNU)", "python3", "python3 -c \"$PY\" %s GNU_FORMAT", 1 },
		{ "Python tarfile (PAX)", "python3", "python3 -c \"$PY\" %s PAX_FORMAT", 1 },
		{ "Python tarfile (USTAR)", "python3", "python3 -c \"$PY\" %s USTAR_FORMAT", 1 },
		{ "Gem::Package::TarWriter layout", NULL, NULL, 0 },
	};
	const char *py = "import sys, tarfile\n"
	    "f = tarfile.open(sys.argv[1], mode=\"w\", format=getattr(tarfile, sys.argv[2]))\n"
	    "for n in sys.argv[3:]:\n    f.add(n, recursive=False)\nf.close()\n";
	struct harness_daemon d;
	char root[300], out[300], cmd[4096], want[1024];

	snprintf(root, sizeof(root), "%s/layout-tree", tmp_root);
	CHECK(mkdir(root, 0755) == 0 && layout_make_tree(root) == 0, "making the tree: %s", strerror(errno));
	harness_daemon_init(&d, tmp_root, "tar_layouts");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct harness_part parts[] = { { "file", out, 0, 1 }, { "wait", "1", 0, 0 },
			{ NULL, NULL, 0, 0 } };
		char *body = NULL;
		json_t *j;
		const char *got;
		long code;
		size_t n;

		snprintf(out, sizeof(out), "%s/layout%zu.tar", tmp_root, i);
		if (layouts[i].cmd == NULL) {
			char err[512];

			CHECK(gem_tar_write(out, layout_tree, LAYOUT_N, err, sizeof(err)) == 0, "%s: writing the tar: %s",
			    layouts[i].what, err);
		} else {
			snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", layouts[i].tool);
			if (system(cmd) != 0) {
				CHECK(0, "%s: %s is not installed (make deps installs it)", layouts[i].what, layouts[i].tool);
				continue;
			}
			n = (size_t)snprintf(cmd, sizeof(cmd), "cd %s && PY='%s' && ", root, py);
			n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, layouts[i].cmd, out);
			for (size_t k = 0; k < LAYOUT_N; k++)
				n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " '%s'", layout_tree[k].name);
			CHECK(n < sizeof(cmd) && system(cmd) == 0, "%s: the tool failed", layouts[i].what);
		}
		snprintf(want, sizeof(want), "main: class Main {}\nvia symlink: class Main {}\nup: #!/bin/sh\n%s\n"
		    "deep: deep\nlong: long\nmultibyte: 255 mb\n",
		    layouts[i].hard_kept ? "hard: linked" : "hard: copy class Main {}");
		code = post_task(d.port, "/", parts, &body);
		j = body ? json_loads(body, 0, NULL) : NULL;
		got = j ? json_string_value(json_object_get(j, "stdout")) : NULL;
		CHECK(code == 200 && j && strcmp(json_string_value(json_object_get(j, "status")) ?: "", "finished") == 0,
		    "%s: HTTP %ld, %.600s", layouts[i].what, code, body ? body : "");
		CHECK(got && strcmp(got, want) == 0, "%s: stdout '%s', wanted '%s'", layouts[i].what,
		    got ? got : "(none)", want);
		printf("    %-32s -> %ld %s\n", layouts[i].what, code,
		    j ? json_string_value(json_object_get(j, "status")) ?: "?" : "?");
		json_decref(j);
		free(body);
	}
	harness_daemon_fini(&d);
}

static void test_receiver_down(void)
{
	struct harness_daemon d;
	char url[128];
	unsigned port;
	double t0;

	harness_rx_reset();
	harness_rx_stop();
	port = harness_rx.port;
	harness_daemon_init(&d, tmp_root, "receiver_down");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), port);
	{
		const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "down", 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d.port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	t0 = harness_now_s();
	sleep(10);
	CHECK(harness_rx_start(port) == 0, "receiver could not come back on port %u", port);
	CHECK(harness_rx_wait(1, 20) == 1, "not delivered after the receiver came back");
	if (harness_rx.nnotes == 1) {
		CHECK(strcmp(harness_rx_str(0, "token") ?: "", "down") == 0, "wrong token");
		printf("    delivered %.1fs after the POST\n", harness_rx.notes[0].at - t0);
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

static void test_receiver_500(void)
{
	struct harness_daemon d;
	char url[128];

	harness_rx_reset();
	harness_rx.fail_next = 3;
	harness_daemon_init(&d, tmp_root, "receiver_500");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "r500", 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d.port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	CHECK(harness_rx_wait(1, 30) == 1, "not delivered");
	CHECK(harness_rx.attempts == 4, "%u attempts, wanted 4", harness_rx.attempts);
	/* The notify phase: one delivery, after three backoffs of at least
	 * 0.1 + 0.2 + 0.4 s (--retry-initial 200ms, half of it jitter); the
	 * failures left their code as the last error (the 2xx lands in the
	 * metrics a moment after the receiver has it). */
	{
		char *body = NULL;
		double n = -1, sum = -1;
		json_t *j;

		for (double until = harness_now_s() + 5; harness_now_s() < until && n != 1; usleep(50000)) {
			free(body);
			body = NULL;
			harness_http_get(d.port, "/metrics", &body);
			n = metric(body, "sandboxd_task_phase_seconds_count{phase=\"notify\"}");
			sum = metric(body, "sandboxd_task_phase_seconds_sum{phase=\"notify\"}");
		}
		CHECK(n == 1 && sum >= 0.7, "notify phase: count %g, sum %g", n, sum);
		free(body);
		body = NULL;
		harness_http_get(d.port, "/status.json", &body);
		j = body ? json_loads(body, 0, NULL) : NULL;
		CHECK(strstr(json_string_value(json_object_get(json_object_get(j, "last_error"), "text")) ?: "",
		    "failed: HTTP 500; will retry") != NULL, "last_error: %s", body ?: "");
		json_decref(j);
		free(body);
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* With the receiver down, one echo task runs until its result is spooled
 * (spool: d's spool dir), then the daemon is SIGKILLed: its next life
 * finds a result still to deliver. Returns the receiver's port, to bring
 * it back on. */
static unsigned spool_then_sigkill(struct harness_daemon *d, const char *name, const char *token, char *spool,
    size_t len)
{
	char url[128];
	unsigned port;

	harness_rx_reset();
	harness_rx_stop();
	port = harness_rx.port;
	harness_daemon_init(d, tmp_root, name);
	snprintf(spool, len, "%s/spool", d->work);
	CHECK(daemon_start(d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), port);
	{
		const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", token, 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d->port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	CHECK(wait_file(spool, ".json", 60) == 0, "result never spooled");
	harness_daemon_stop(d, SIGKILL);
	return port;
}

static void test_sigkill_spooled(void)
{
	struct harness_daemon d;
	char spool[320];
	unsigned port = spool_then_sigkill(&d, "sigkill_spooled", "spooled", spool, sizeof(spool));

	CHECK(harness_rx_start(port) == 0, "receiver could not start");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not restart");
	CHECK(harness_rx_wait(1, 20) == 1, "not delivered after restart");
	if (harness_rx.nnotes == 1)
		check_echo_note(0, "spooled");
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* The marker of a running task, as text ("" when there is none). */
static void read_marker(const char *spool, char *buf, size_t len)
{
	DIR *dp = opendir(spool);
	struct dirent *de;

	buf[0] = '\0';
	while (dp != NULL && (de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);
		char p[600];
		FILE *f;
		size_t n;

		if (l < 9 || strcmp(de->d_name + l - 8, ".running") != 0 || de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", spool, de->d_name);
		f = fopen(p, "r");
		n = f ? fread(buf, 1, len - 1, f) : 0;
		buf[n] = '\0';
		if (f)
			fclose(f);
	}
	if (dp != NULL)
		closedir(dp);
}

/* Waits until the running marker says attempt N (the task runs). */
static int wait_attempt(const char *spool, int attempt, double timeout)
{
	char want[32], buf[4096];
	double until = harness_now_s() + timeout;

	snprintf(want, sizeof(want), "\"attempt\":%d", attempt);
	while (harness_now_s() < until) {
		read_marker(spool, buf, sizeof(buf));
		if (strstr(buf, want) != NULL)
			return 0;
		usleep(20000);
	}
	return -1;
}

#define RERUN_TASK "#!/bin/sh\nsleep 3\necho rerun-ok\n"

/* SIGKILL while a task runs: after the restart the task runs once more
 * and exactly one notification arrives, with its real result; the task
 * dir the killed run left in tasks/ is gone. */
/* Up to max names in dir (no . and ..); their count. */
static int dir_entries(const char *dir, char names[][256], int max)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (dp != NULL && n < max && (de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			snprintf(names[n++], 256, "%s", de->d_name);
	if (dp != NULL)
		closedir(dp);
	return n;
}

static void test_killed_mid_task(void)
{
	struct harness_daemon d;
	char killed[8][256];
	int killed_n = 0;
	char url[128], spool[320], tasks[320];
	const char *s;

	harness_rx_reset();
	harness_daemon_init(&d, tmp_root, "killed_mid_task");
	snprintf(spool, sizeof(spool), "%s/spool", d.work);
	snprintf(tasks, sizeof(tasks), "%s/tasks", d.work);
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part parts[] = { { "file", task_tar("rerun", RERUN_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "mid", 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d.port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	CHECK(wait_file(spool, ".running", 10) == 0, "no running marker");
	usleep(800000);
	harness_daemon_stop(&d, SIGKILL);
	CHECK(work_files_all(&d, "tasks") > 0, "the killed run left nothing in tasks/ (the test shows nothing)");
	killed_n = dir_entries(tasks, killed, 8);
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not restart");
	CHECK(wait_attempt(spool, 2, 10) == 0, "the task was not run again");
	CHECK(harness_rx_wait(1, 60) == 1, "no report after restart");
	usleep(1500000);
	CHECK(harness_rx.nnotes == 1, "%zu notifications, wanted exactly 1", harness_rx.nnotes);
	if (harness_rx.nnotes >= 1) {
		CHECK(strcmp(harness_rx_str(0, "token") ?: "", "mid") == 0, "token");
		CHECK((s = harness_rx_str(0, "status")) && strcmp(s, "finished") == 0, "status %s (%s)", s ?: "(none)",
		    harness_rx_str(0, "error") ?: "");
		CHECK((s = harness_rx_str(0, "stdout")) && strcmp(s, "rerun-ok\n") == 0, "stdout '%s'", s ?: "(none)");
	}
	CHECK(work_files(&d, "tasks") == 0, "tasks/ not empty after the re-run: the killed run's dir stayed");
	for (int i = 0; i < killed_n; i++) {
		char p[2600];

		snprintf(p, sizeof(p), "%s/%s", tasks, killed[i]);
		CHECK(access(p, F_OK) != 0, "the killed run's %s stayed", killed[i]);
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* Killed during the run and again during the re-run: failed/internal,
 * one notification. */
static void test_killed_twice(void)
{
	struct harness_daemon d;
	char url[128], spool[320];
	const char *s;

	harness_rx_reset();
	harness_daemon_init(&d, tmp_root, "killed_twice");
	snprintf(spool, sizeof(spool), "%s/spool", d.work);
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part parts[] = { { "file", task_tar("rerun", RERUN_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "twice", 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d.port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	CHECK(wait_file(spool, ".running", 10) == 0, "no running marker");
	usleep(500000);
	harness_daemon_stop(&d, SIGKILL);
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not restart");
	CHECK(wait_attempt(spool, 2, 10) == 0, "the task was not run again");
	usleep(500000);
	harness_daemon_stop(&d, SIGKILL);
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not restart twice");
	CHECK(harness_rx_wait(1, 20) == 1, "no report after the second restart");
	usleep(1500000);
	CHECK(harness_rx.nnotes == 1, "%zu notifications, wanted exactly 1", harness_rx.nnotes);
	if (harness_rx.nnotes >= 1) {
		CHECK(strcmp(harness_rx_str(0, "token") ?: "", "twice") == 0, "token");
		CHECK((s = harness_rx_str(0, "status")) && strcmp(s, "failed") == 0, "status %s", s ?: "(none)");
		CHECK((s = harness_rx_str(0, "reason")) && strcmp(s, "internal") == 0, "reason %s", s ?: "(none)");
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* Killed after the result was spooled but before delivery: delivered
 * once after the restart, never run again. */
static void test_killed_after_spooled(void)
{
	struct harness_daemon d;
	char spool[320];
	unsigned port = spool_then_sigkill(&d, "killed_after_spooled", "once", spool, sizeof(spool));

	/* The kill may land between the result's rename into the spool and
	 * the removal of its marker and kept tar (spool_put_result writes the
	 * result first, by design): the restarted daemon must then see that
	 * the result wins, drop both and never run the task again. */
	CHECK(harness_rx_start(port) == 0, "receiver could not start");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not restart");
	CHECK(harness_rx_wait(1, 20) == 1, "not delivered after restart");
	usleep(1500000);
	CHECK(wait_file(spool, ".running", 0.1) != 0 && wait_file(spool, ".tar", 0.1) != 0,
	    "marker or kept tar left next to the delivered result");
	CHECK(harness_rx.nnotes == 1, "%zu notifications, wanted 1", harness_rx.nnotes);
	if (harness_rx.nnotes >= 1)
		check_echo_note(0, "once");
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* A pending result of a previous life, for a receiver at port. */
static void put_pending(const char *work, const char *id, unsigned port, size_t stdout_len)
{
	char path[600], url[128];
	json_t *o;
	char *big = malloc(stdout_len + 1);

	memset(big, 'x', stdout_len);
	big[stdout_len] = '\0';
	harness_notify_url(url, sizeof(url), port);
	snprintf(path, sizeof(path), "%s/spool", work);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/spool/%s.json", work, id);
	o = json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:s}}", "id", id, "notify", url, "created", (json_int_t)time(NULL),
	    "payload", "token", "old", "status", "finished", "stdout", big);
	CHECK(o && json_dump_file(o, path, JSON_COMPACT) == 0, "cannot write %s", path);
	json_decref(o);
	free(big);
}

/* The spool full: a new task gets 503 before anything runs, status.json,
 * /metrics and the page say so, nothing is dropped; once the receiver
 * takes the waiting result, tasks are accepted again. */
static void test_spool_full(void)
{
	struct harness_daemon d;
	char url[128], *body = NULL;
	const char *extra[] = { "--spool-max", "256K", "--result-max", "64K", NULL };
	unsigned port;
	json_t *j;
	long code;

	harness_rx_reset();
	harness_rx_stop();
	port = harness_rx.port;
	harness_daemon_init(&d, tmp_root, "spool_full");
	put_pending(d.work, "t20240101-000000-0000abcd", port, 200000);
	if (daemon_start(&d, extra) != 0) {
		CHECK(0, "daemon did not start (log %s)", d.log);
		harness_daemon_fini(&d);
		return;
	}
	harness_notify_url(url, sizeof(url), port);
	{
		const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "new", 0, 0 }, { NULL, NULL, 0, 0 } };
		const struct harness_part waiting[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
			{ "wait", "1", 0, 0 }, { NULL, NULL, 0, 0 } };

		code = post_task(d.port, "/tasks.json", parts, &body);
		CHECK(code == 503, "POST with the spool full -> %ld", code);
		CHECK(body && strcmp(body, "{\"status\":\"busy\",\"error\":\"spool full\"}") == 0, "body %s", body ?: "");
		printf("    %-24s -> %ld %s\n", "spool full", code, body ?: "");
		free(body);
		code = post_task(d.port, "/", waiting, &body);
		CHECK(code == 503, "POST wait=1 with the spool full -> %ld", code);
		free(body);
		CHECK(work_files(&d, "incoming") == 0 && work_files(&d, "tasks") == 0, "something ran");
		code = harness_http_get(d.port, "/status.json", &body);
		j = body ? json_loads(body, 0, NULL) : NULL;
		CHECK(code == 200 && j && json_is_true(json_object_get(j, "spool_full")) &&
		    json_integer_value(json_object_get(j, "spool_pending")) == 1 &&
		    json_integer_value(json_object_get(j, "busy_instances")) == 0, "status.json %s", body ?: "");
		json_decref(j);
		free(body);
		code = harness_http_get(d.port, "/metrics", &body);
		CHECK(code == 200 && body && strstr(body, "sandboxd_spool_full 1") &&
		    strstr(body, "sandboxd_spool_max_bytes 262144"), "metrics lack the spool");
		free(body);
		/* What the page draws the backlog from: one result waiting. */
		code = harness_http_get(d.port, "/history.json", &body);
		j = body ? json_loads(body, 0, NULL) : NULL;
		{
			json_t *pend = json_object_get(json_object_get(j, "backlog"), "pending");

			CHECK(code == 200 && json_integer_value(json_array_get(pend, json_array_size(pend) - 1)) == 1,
			    "history.json backlog: %.300s", body ?: "");
		}
		json_decref(j);
		free(body);
		CHECK(harness_rx_start(port) == 0, "receiver could not start");
		CHECK(harness_rx_wait(1, 20) == 1, "the waiting result was not delivered");
		CHECK(harness_rx.nnotes >= 1 && strcmp(harness_rx_str(0, "token") ?: "", "old") == 0, "wrong result");
		/* The result leaves the spool once the 2xx is in, a moment after
		 * the receiver has it. */
		for (double until = harness_now_s() + 5; harness_now_s() < until; usleep(50000)) {
			int full = 1;

			code = harness_http_get(d.port, "/status.json", &body);
			j = body ? json_loads(body, 0, NULL) : NULL;
			full = !j || !json_is_false(json_object_get(j, "spool_full"));
			json_decref(j);
			free(body);
			body = NULL;
			if (!full)
				break;
		}
		code = post_task(d.port, "/tasks.json", parts, &body);
		CHECK(code == 200, "POST after delivery -> %ld %s", code, body ?: "");
		free(body);
		CHECK(harness_rx_wait(2, 60) == 2, "the new task was not notified");
		code = harness_http_get(d.port, "/metrics", &body);
		CHECK(code == 200 && body && strstr(body, "sandboxd_spool_full 0"), "metrics still full");
		free(body);
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* 20 MB of \x01 on stdout is ~24 MB of JSON once escaped (stdout is
 * capped at 4M before): the notification stays under --result-max,
 * with stdout cut and named in `truncated`. */
static void test_result_cap(void)
{
	struct harness_daemon d;
	char url[128];
	const char *extra[] = { "--result-max", "1M", NULL };
	json_t *tr;
	const char *s;
	int named = 0;
	size_t i;

	harness_rx_reset();
	harness_daemon_init(&d, tmp_root, "result_cap");
	if (daemon_start(&d, extra) != 0) {
		CHECK(0, "daemon did not start (log %s)", d.log);
		harness_daemon_fini(&d);
		return;
	}
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part parts[] = { { "file", task_tar("ctl", "#!/bin/sh\n"
			"head -c 20000000 /dev/zero | tr '\\000' '\\001'\n"), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "cap", 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d.port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	CHECK(harness_rx_wait(1, 90) == 1, "no notification");
	if (harness_rx.nnotes >= 1) {
		printf("    notification of %zu bytes\n", harness_rx.notes[0].len);
		CHECK(harness_rx.notes[0].len <= (1 << 20), "notification of %zu bytes, over 1M", harness_rx.notes[0].len);
		CHECK((s = harness_rx_str(0, "status")) && strcmp(s, "finished") == 0, "status %s", s ?: "(none)");
		CHECK((s = harness_rx_str(0, "stdout")) && strlen(s) > 100000 && s[0] == '\x01', "stdout not kept in part");
		tr = harness_rx.notes[0].fields ? json_object_get(harness_rx.notes[0].fields, "truncated") : NULL;
		for (i = 0; i < json_array_size(tr); i++)
			named |= strcmp(json_string_value(json_array_get(tr, i)) ?: "", "stdout") == 0;
		CHECK(named, "truncated does not name stdout");
	}
	harness_daemon_fini(&d);
	CHECK(work_files(&d, "spool") == 0, "spool not empty");
}

/* A work dir the UML user cannot reach: a clear message at start, not
 * failed/crash for every task. */
static void test_work_dir_unreachable(void)
{
	struct harness_daemon d;
	char locked[320], logbuf[8192];
	FILE *f;
	size_t n;

	harness_daemon_init(&d, tmp_root, "work_dir_unreachable");
	snprintf(locked, sizeof(locked), "%s/locked", d.work);
	CHECK(mkdir(locked, 0700) == 0 || errno == EEXIST, "mkdir %s", locked);
	snprintf(d.work, sizeof(d.work), "%.290s/work", locked);
	CHECK(daemon_start(&d, NULL) != 0, "daemon started on a work dir under a 0700 directory");
	f = fopen(d.log, "r");
	n = f ? fread(logbuf, 1, sizeof(logbuf) - 1, f) : 0;
	if (f)
		fclose(f);
	logbuf[n] = '\0';
	CHECK(strstr(logbuf, "not usable by uid") && strstr(logbuf, "cannot enter") && strstr(logbuf, locked),
	    "no clear message in the log: %s", logbuf);
	printf("    %s", strstr(logbuf, "work dir") ? strstr(logbuf, "work dir") : logbuf);
	harness_daemon_fini(&d);
}

/* SIGTERM asks systemd for the worst-case drain (EXTEND_TIMEOUT_USEC),
 * derived from --timeout; the unit's TimeoutStopSec covers it for the
 * default --timeout. */
static void test_drain_bound(void)
{
	struct harness_daemon d;
	char sock[300], buf[256] = "", unit[8192];
	const char *extra[] = { "--timeout", "300", NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), st;
	unsigned long long usec = 0, unit_s = 0;
	struct pollfd p;
	FILE *f;
	size_t n;
	const char *t;

	snprintf(sock, sizeof(sock), "%s/notify.sock", tmp_root);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", sock);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s", sock);
	harness_daemon_init(&d, tmp_root, "drain_bound");
	setenv("NOTIFY_SOCKET", sock, 1);
	CHECK(daemon_start(&d, extra) == 0, "daemon did not start");
	unsetenv("NOTIFY_SOCKET");
	st = harness_daemon_stop(&d, SIGTERM);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	p = (struct pollfd){ fd, POLLIN, 0 };
	if (poll(&p, 1, 2000) == 1) {
		ssize_t k = recv(fd, buf, sizeof(buf) - 1, 0);

		buf[k > 0 ? k : 0] = '\0';
	}
	close(fd);
	t = strstr(buf, "EXTEND_TIMEOUT_USEC=");
	CHECK(t && sscanf(t, "EXTEND_TIMEOUT_USEC=%llu", &usec) == 1, "no EXTEND_TIMEOUT_USEC: '%s'", buf);
	CHECK(usec >= 300ULL * 1000000 + 20ULL * 1000000, "drain bound %llu us does not cover --timeout 300 + "
	    "teardown + delivery", usec);
	f = fopen("web/systemd/sandboxd@.service.in", "r");
	n = f ? fread(unit, 1, sizeof(unit) - 1, f) : 0;
	if (f)
		fclose(f);
	unit[n] = '\0';
	t = strstr(unit, "\nTimeoutStopSec=");
	CHECK(t && sscanf(t, "\nTimeoutStopSec=%llu", &unit_s) == 1, "no TimeoutStopSec in the unit (run from the tree)");
	CHECK(strstr(unit, "\nNotifyAccess=main") != NULL, "the unit lacks NotifyAccess=main");
	/* The same bound for the default --timeout 200. */
	CHECK(usec > 100ULL * 1000000 && unit_s * 1000000 >= usec - 100ULL * 1000000, "TimeoutStopSec=%llu < %llu s, the drain at the default "
	    "timeout", unit_s, usec / 1000000 - 100);
	printf("    %s; unit TimeoutStopSec=%llu\n", buf, unit_s);
	harness_daemon_fini(&d);
}

static void test_drain(void)
{
	struct harness_daemon d;
	char url[128];
	int st;

	harness_rx_reset();
	harness_daemon_init(&d, tmp_root, "drain");
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	harness_notify_url(url, sizeof(url), harness_rx.port);
	{
		const struct harness_part parts[] = {
			{ "file", task_tar("sleep1", "#!/bin/sh\nsleep 1\necho done\n"), 0, 1 },
			{ "notify", url, 0, 0 }, { "token", "drain", 0, 0 }, { NULL, NULL, 0, 0 } };

		CHECK(post_task(d.port, "/tasks.json", parts, NULL) == 200, "POST failed");
	}
	usleep(200000);
	st = harness_daemon_stop(&d, SIGTERM);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	CHECK(harness_rx_wait(1, 5) == 1 || work_files(&d, "spool") == 1, "result neither delivered nor spooled");
	CHECK(harness_rx.nnotes == 0 || strcmp(harness_rx_str(0, "status") ?: "", "finished") == 0,
	    "drained task not finished");
	harness_daemon_fini(&d);
}

/* 50 tasks through the ASan build: no leak, no invalid access, and the fd
 * count after 50 the same as after 1. */
static void test_leaks(void)
{
	struct harness_daemon d;
	char asan_bin[300], logbuf[8192];
	int fds1 = -1, fds50 = -1, st;
	const char *tar = task_tar("echo", ECHO_TASK);
	const struct harness_part parts[] = { { "file", tar, 0, 1 }, { "token", "leak", 0, 0 }, { "wait", "1", 0, 0 },
		{ NULL, NULL, 0, 0 } };
	FILE *f;
	size_t n;

	snprintf(asan_bin, sizeof(asan_bin), "%.*s/asan/sandboxd", (int)(strrchr(daemon_bin, '/') - daemon_bin),
	    daemon_bin);
	if (access(asan_bin, X_OK) != 0) {
		CHECK(0, "no ASan build at %s (make %s)", asan_bin, asan_bin);
		return;
	}
	harness_daemon_init(&d, tmp_root, "leaks");
	d.bin = asan_bin;
	setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66", 1);
	CHECK(daemon_start(&d, NULL) == 0, "daemon did not start");
	for (int i = 0; i < 50; i++) {
		long code = post_task(d.port, "/tasks.json", parts, NULL);

		CHECK(code == 200, "task %d -> %ld", i, code);
		if (code != 200)
			break;
		if (i == 0) {
			usleep(300000);	/* the closed client connection settles */
			fds1 = count_fds(d.pid);
		}
	}
	usleep(300000);
	fds50 = count_fds(d.pid);
	CHECK(fds1 > 0 && fds1 == fds50, "fds after 1 task %d, after 50 %d", fds1, fds50);
	st = harness_daemon_stop(&d, SIGTERM);
	unsetenv("ASAN_OPTIONS");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ASan daemon exit status %d (66 = sanitizer report; log %s)",
	    st, d.log);
	f = fopen(d.log, "r");
	n = f ? fread(logbuf, 1, sizeof(logbuf) - 1, f) : 0;
	if (f)
		fclose(f);
	logbuf[n] = '\0';
	CHECK(strstr(logbuf, "Sanitizer") == NULL, "sanitizer report in %s", d.log);
	printf("    fds after 1 task: %d, after 50: %d\n", fds1, fds50);
	harness_daemon_fini(&d);
}

/* A raw client that sends the headers and the start of a multipart body,
 * then one byte every 0.5 s: a slow-loris upload. */
struct loris {
	unsigned port;
	int fd;
	double t0, closed_at;	/* harness_now_s(); closed_at 0: still open */
	char resp[1024];
	pthread_t th;
};

static void *loris_main(void *arg)
{
	struct loris *l = arg;
	size_t got = 0;
	double until = l->t0 + 20;

	while (harness_now_s() < until) {
		struct pollfd p = { l->fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 500) > 0) {
			n = read(l->fd, l->resp + got, sizeof(l->resp) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			l->resp[got] = '\0';
			continue;
		}
		if (send(l->fd, "a", 1, MSG_NOSIGNAL) != 1)
			break;
	}
	l->closed_at = harness_now_s();
	return NULL;
}

static int loris_start(struct loris *l, unsigned port)
{
	static const char head[] = "POST /tasks.json HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: 100000\r\n\r\n"
	    "--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.tar\"\r\n\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons((uint16_t)port) };

	memset(l, 0, sizeof(*l));
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    send(l->fd, head, sizeof(head) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(head) - 1))
		return -1;
	l->t0 = harness_now_s();
	return pthread_create(&l->th, NULL, loris_main, l) == 0 ? 0 : -1;
}

/*
 * Issue 9, finding 4: a client trickling its upload neither makes the
 * instance busy (another client's task is taken meanwhile) nor lives past
 * --request-timeout (answered 408 and closed), and leaves nothing behind.
 */
static void test_slow_loris(void)
{
	struct harness_daemon d;
	struct loris l;
	char *body = NULL;
	const char *extra[] = { "--request-timeout", "4s", NULL };
	const struct harness_part parts[] = { { "file", task_tar("echo", ECHO_TASK), 0, 1 },
		{ "token", "beside-loris", 0, 0 }, { "wait", "1", 0, 0 }, { NULL, NULL, 0, 0 } };
	long code;
	double life;

	harness_daemon_init(&d, tmp_root, "slow_loris");
	CHECK(daemon_start(&d, extra) == 0, "daemon did not start (log %s)", d.log);
	CHECK(loris_start(&l, d.port) == 0, "slow client could not connect");
	usleep(300000);
	code = harness_http_get(d.port, "/status.json", &body);
	CHECK(code == 200 && body && strstr(body, "\"busy_instances\":0"), "busy while only uploading: %s", body);
	free(body);
	body = NULL;
	code = post_task(d.port, "/tasks.json", parts, &body);
	CHECK(code == 200 && body && strstr(body, "\"finished\""), "task beside a slow upload -> %ld %.200s",
	    code, body ? body : "");
	free(body);
	pthread_join(l.th, NULL);
	close(l.fd);
	life = l.closed_at - l.t0;
	/* 4 s deadline; the old idle-only timeout let it live as long as it trickled. */
	CHECK(life > 3.0 && life < 9.0, "slow upload lived %.1fs (deadline 4 s)", life);
	CHECK(strncmp(l.resp, "HTTP/1.1 408", 12) == 0 && strstr(l.resp, "request-timeout"),
	    "slow upload's answer: '%.200s'", l.resp);
	printf("    slow upload cut after %.1fs\n", life);
	usleep(300000);
	CHECK(work_files(&d, "incoming") == 0, "the cut upload left files in incoming/");
	code = harness_http_get(d.port, "/status.json", &body);
	CHECK(code == 200 && body && strstr(body, "\"busy_instances\":0"), "status after the cut: %s", body);
	free(body);
	harness_daemon_fini(&d);
}

/* A receiver that accepts and never answers; counts connections. */
static int pit_fd = -1;
static atomic_int pit_conns;

static void *pit_main(void *arg)
{
	int held[256];
	size_t n = 0;

	(void)arg;
	for (;;) {
		int fd = accept(pit_fd, NULL, NULL);

		if (fd < 0)
			break;
		atomic_fetch_add(&pit_conns, 1);
		if (n < sizeof(held) / sizeof(held[0]))
			held[n++] = fd;
		else
			close(fd);
	}
	while (n > 0)
		close(held[--n]);
	return NULL;
}

/*
 * Issue 9, finding 3: three results go to a tar pit (attempt timeout 5 s),
 * then one to an honest receiver. The honest one arrives within a moment
 * of its task's end (the old single delivery thread held it behind the
 * tar pit's attempts, >= 5 s), and the tar pit's results stay spooled.
 */
static void test_tar_pit(void)
{
	struct harness_daemon d;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	pthread_t th;
	char pit_url[128], url[128];
	const char *extra[] = { "--notify-timeout", "5s", NULL };
	const char *tar = task_tar("trivial", "#!/bin/sh\necho ok\n");
	double t_sent = 0, late = -1;
	json_t *tm;

	atomic_store(&pit_conns, 0);
	pit_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(pit_fd >= 0 && bind(pit_fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(pit_fd, 64) == 0 &&
	    getsockname(pit_fd, (struct sockaddr *)&a, &alen) == 0, "tar pit setup");
	pthread_create(&th, NULL, pit_main, NULL);
	snprintf(pit_url, sizeof(pit_url), "http://127.0.0.1:%u/pit", ntohs(a.sin_port));
	harness_notify_url(url, sizeof(url), harness_rx.port);
	harness_rx_reset();
	harness_daemon_init(&d, tmp_root, "tar_pit");
	CHECK(daemon_start(&d, extra) == 0, "daemon did not start");
	for (int i = 0; i < 4; i++) {
		const struct harness_part parts[] = { { "file", tar, 0, 1 }, { "notify", i < 3 ? pit_url : url, 0, 0 },
			{ "token", i < 3 ? "pit" : "honest", 0, 0 }, { NULL, NULL, 0, 0 } };
		double until = harness_now_s() + 60;
		long code;

		/* One task at a time: wait for the slot. */
		do {
			t_sent = harness_now_s();
			code = post_task(d.port, "/tasks.json", parts, NULL);
		} while (code == 500 && harness_now_s() < until && usleep(50000) == 0);
		CHECK(code == 200, "task %d -> %ld", i, code);
	}
	CHECK(harness_rx_wait(1, 30) == 1, "honest result not delivered");
	if (harness_rx.nnotes == 1 && harness_rx.notes[0].fields != NULL &&
	    (tm = json_object_get(harness_rx.notes[0].fields, "time")) != NULL) {
		/* time.total runs from the end of the upload to the result. */
		late = harness_rx.notes[0].at - t_sent - json_number_value(json_object_get(tm, "total"));
		printf("    honest result %.2fs after its task's end; tar pit connections so far: %d\n", late,
		    atomic_load(&pit_conns));
	}
	CHECK(late > -0.5 && late < 2.0, "honest result %.2fs late behind a tar pit", late);
	CHECK(atomic_load(&pit_conns) >= 1, "the tar pit was never tried");
	CHECK(work_files(&d, "spool") >= 3, "tar-pit results not kept in the spool (%d files)", work_files(&d, "spool"));
	harness_daemon_fini(&d);
	shutdown(pit_fd, SHUT_RDWR);
	close(pit_fd);
	pthread_join(th, NULL);
}


/* ------------------------------------------------------------------ pre-boot */

/* The name of d's pre-booted guest's dir (tasks/tmc-preboot-*, also the
 * name of its host cgroup) into name; 0, or -1 when there is none. */
static int preboot_dir(const struct harness_daemon *d, char *name, size_t len)
{
	char tasks[400];
	DIR *dp;
	struct dirent *de;
	int rc = -1;

	snprintf(tasks, sizeof(tasks), "%s/tasks", d->work);
	dp = opendir(tasks);
	while (dp != NULL && (de = readdir(dp)) != NULL)
		if (strncmp(de->d_name, "tmc-preboot-", 12) == 0) {
			snprintf(name, len, "%s", de->d_name);
			rc = 0;
		}
	if (dp != NULL)
		closedir(dp);
	return rc;
}

/* Waits for a pre-booted guest whose dir is not `not` (NULL: any); 0 with
 * its name, or -1. */
static int wait_preboot(const struct harness_daemon *d, const char *not, char *name, size_t len,
    double timeout)
{
	double until = harness_now_s() + timeout;

	while (harness_now_s() < until) {
		if (preboot_dir(d, name, len) == 0 && (not == NULL || strcmp(name, not) != 0))
			return 0;
		usleep(50000);
	}
	return -1;
}

/* SIGKILLs every process of the host cgroup sandboxd made for the guest
 * (its pids controller, v1 or v2); the number killed. */
static int kill_guest_cgroup(const char *name)
{
	const char *roots[] = { "/sys/fs/cgroup/pids/tmc-sandbox", "/sys/fs/cgroup/tmc-sandbox" };
	int n = 0;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]) && n == 0; i++) {
		char path[400];
		FILE *f;
		int pid;

		snprintf(path, sizeof(path), "%s/%s/cgroup.procs", roots[i], name);
		f = fopen(path, "r");
		while (f != NULL && fscanf(f, "%d", &pid) == 1)
			if (kill(pid, SIGKILL) == 0)
				n++;
		if (f != NULL)
			fclose(f);
	}
	return n;
}

static int log_has(const struct harness_daemon *d, const char *needle)
{
	char buf[65536];
	FILE *f = fopen(d->log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* POSTs tar with wait=1 (and timeout when not NULL); the result or NULL. */
static json_t *post_wait(unsigned port, const char *tar, const char *timeout, double *elapsed)
{
	struct harness_part parts[5] = { { "file", tar, 0, 1 }, { "token", "pb", 0, 0 }, { "wait", "1", 0, 0 } };
	char *body = NULL;
	double t0 = harness_now_s();
	json_t *j;
	long code;

	if (timeout != NULL)
		parts[3] = (struct harness_part){ "timeout", timeout, 0, 0 };
	code = post_task(port, "/", parts, &body);
	if (elapsed != NULL)
		*elapsed = harness_now_s() - t0;
	j = code == 200 && body != NULL ? json_loads(body, 0, NULL) : NULL;
	CHECK(j != NULL, "POST wait=1 -> %ld %.300s", code, body ? body : "");
	free(body);
	return j;
}

static const char *jstr(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s != NULL ? s : "(none)";
}

/* A task through a pre-booted guest gives the result a fresh boot gives:
 * same status, exit code, streams and files, and the task's own data file
 * (written into the guest's disk after its boot) read back whole. */
static void test_preboot_same_result(void)
{
	struct harness_daemon on, off;
	const char *on_flags[] = { "--preboot", "on", NULL }, *off_flags[] = { "--preboot", "off", NULL };
	const char *keys[] = { "status", "reason", "exit_code", "stdout", "stderr", "test_output", "output" };
	const char *tar = task_tar("preboot_same", "#!/bin/sh\necho 'out line'\necho 'err line' >&2\n"
	    "seq 1 20000 | md5sum > output.txt\nhead -c 200 tmc-run | md5sum > test_output.txt\nexit 3\n");
	json_t *a, *b;
	char name[256];

	harness_daemon_init(&on, tmp_root, "preboot_on");
	harness_daemon_init(&off, tmp_root, "preboot_off");
	CHECK(daemon_start(&on, on_flags) == 0, "daemon (preboot on) did not start");
	CHECK(daemon_start(&off, off_flags) == 0, "daemon (preboot off) did not start");
	CHECK(wait_preboot(&on, NULL, name, sizeof(name), 60) == 0, "no pre-booted guest appeared");
	usleep(500000);
	CHECK(preboot_dir(&off, name, sizeof(name)) < 0, "--preboot off booted a guest ahead");
	a = post_wait(on.port, tar, NULL, NULL);
	b = post_wait(off.port, tar, NULL, NULL);
	for (size_t i = 0; a != NULL && b != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(strcmp(jstr(a, keys[i]), jstr(b, keys[i])) == 0, "%s: pre-booted '%s' vs fresh '%s'", keys[i],
		    jstr(a, keys[i]), jstr(b, keys[i]));
	CHECK(a && strcmp(jstr(a, "status"), "failed") == 0 && strcmp(jstr(a, "exit_code"), "3") == 0 &&
	    strcmp(jstr(a, "stdout"), "out line\n") == 0 && strlen(jstr(a, "output")) > 32,
	    "pre-booted result: status %s exit %s stdout '%s'", jstr(a, "status"), jstr(a, "exit_code"), jstr(a, "stdout"));
	CHECK(a && strstr(jstr(a, "vm_log"), "tmc-init: ready") && strstr(jstr(a, "vm_log"), "pre-booted guest"),
	    "the task did not go through the pre-booted guest: %.2000s", jstr(a, "vm_log"));
	CHECK(b && !strstr(jstr(b, "vm_log"), "tmc-init: ready"), "--preboot off: the guest waited for go");
	json_decref(a);
	json_decref(b);
	harness_daemon_fini(&on);
	harness_daemon_fini(&off);
	CHECK(work_files_all(&on, "tasks") == 0, "tasks/ not empty after stop: the pre-booted guest's dir stayed");
}

/* A pre-booted guest killed while it waits is noticed, logged, replaced,
 * and the next task runs in the replacement. */
static void test_preboot_killed(void)
{
	struct harness_daemon d;
	const char *flags[] = { "--preboot", "on", NULL };
	char first[256] = "", second[256] = "";
	json_t *r;

	harness_daemon_init(&d, tmp_root, "preboot_killed");
	CHECK(daemon_start(&d, flags) == 0, "daemon did not start");
	CHECK(wait_preboot(&d, NULL, first, sizeof(first), 60) == 0, "no pre-booted guest appeared");
	usleep(1500000);
	CHECK(kill_guest_cgroup(first) > 0, "no process of the guest %s to kill", first);
	CHECK(wait_preboot(&d, first, second, sizeof(second), 60) == 0, "the killed guest was not replaced");
	CHECK(log_has(&d, "pre-boot: the pre-booted guest died"), "the death was not logged (log %s)", d.log);
	usleep(1000000);
	r = post_wait(d.port, task_tar("preboot_after_kill", ECHO_TASK), NULL, NULL);
	CHECK(r && strcmp(jstr(r, "status"), "finished") == 0 && strcmp(jstr(r, "stdout"), "hello out\n") == 0 &&
	    strcmp(jstr(r, "test_output"), "TEST OK\n") == 0, "after the kill: status %s stdout '%s' vm_log %.1500s",
	    jstr(r, "status"), jstr(r, "stdout"), jstr(r, "vm_log"));
	CHECK(r && strstr(jstr(r, "vm_log"), "pre-booted guest"), "the task did not use the replacement guest");
	json_decref(r);
	harness_daemon_fini(&d);
	CHECK(work_files_all(&d, "tasks") == 0, "tasks/ not empty after stop");
}

/* The timeout counts from the POST, not from the guest's boot: with guests
 * older than the timeout, a quick task finishes and a sleeping one is cut
 * no earlier than the timeout after its POST. */
static void test_preboot_timeout(void)
{
	struct harness_daemon d;
	const char *flags[] = { "--preboot", "on", "--timeout", "4", NULL };
	double el = 0;
	json_t *r;
	char g[256] = "", next[256];

	harness_daemon_init(&d, tmp_root, "preboot_timeout");
	CHECK(daemon_start(&d, flags) == 0, "daemon did not start");
	CHECK(wait_preboot(&d, NULL, g, sizeof(g), 60) == 0, "no pre-booted guest appeared");
	sleep(6);
	r = post_wait(d.port, task_tar("preboot_quick", ECHO_TASK), NULL, NULL);
	CHECK(r && strcmp(jstr(r, "status"), "finished") == 0, "a quick task in a guest older than the timeout: %s",
	    jstr(r, "status"));
	CHECK(r && strstr(jstr(r, "vm_log"), "pre-booted guest"), "the quick task did not use the pre-booted guest");
	json_decref(r);
	CHECK(wait_preboot(&d, g, next, sizeof(next), 60) == 0, "no next pre-booted guest");
	sleep(6);
	r = post_wait(d.port, task_tar("preboot_sleep", "#!/bin/sh\nsleep 60\n"), "3", &el);
	CHECK(r && strcmp(jstr(r, "status"), "timeout") == 0, "sleep 60 with timeout 3: %s", jstr(r, "status"));
	CHECK(el >= 3.0 && el < 20.0, "POST to result %.2f s, wanted the 3 s timeout from the POST", el);
	CHECK(r && strstr(jstr(r, "vm_log"), "pre-booted guest"), "the sleeping task did not use the pre-booted guest");
	printf("    timeout 3 s in a guest pre-booted 6 s earlier: POST to result %.2f s\n", el);
	json_decref(r);
	harness_daemon_fini(&d);
}

/* Layers: an unknown name in `layers` is a 400 that names the configured
 * layers, before anything runs; a known one is mounted in the real guest;
 * status.json and the page list them with their files' size and mtime. */
static void test_layers(void)
{
	struct harness_daemon d;
	char cmd[1024], img[2][200], spec[2][240], *body = NULL;
	const char *extra[5];
	struct stat st;
	json_t *j, *l;
	long code;
	const char *tar = task_tar("layers", "#!/bin/sh\ncat /opt/layers/course-a/greeting.txt\n"
	    "ls /opt/layers\n");

	for (int i = 0; i < 2; i++) {
		snprintf(img[i], sizeof(img[i]), "%s/layer%d.squashfs", tmp_root, i);
		snprintf(spec[i], sizeof(spec[i]), "%s=%s", i == 0 ? "course-a" : "tools", img[i]);
	}
	snprintf(cmd, sizeof(cmd), "set -e; d=%s/layer-src; mkdir -p $d; echo 'hello from a layer' > $d/greeting.txt; "
	    "tools/make-layer $d %s >/dev/null; tools/make-layer $d %s >/dev/null", tmp_root, img[0], img[1]);
	CHECK(system(cmd) == 0, "tools/make-layer failed: %s", cmd);
	extra[0] = "--layer";
	extra[1] = spec[0];
	extra[2] = "--layer";
	extra[3] = spec[1];
	extra[4] = NULL;
	harness_daemon_init(&d, tmp_root, "layers");
	CHECK(daemon_start(&d, extra) == 0, "daemon did not start");

	{
		const struct harness_part parts[] = { { "file", tar, 0, 1 }, { "wait", "1", 0, 0 },
			{ "layers", "course-a,nope", 0, 0 }, { NULL, NULL, 0, 0 } };

		code = post_task(d.port, "/", parts, &body);
		j = body ? json_loads(body, 0, NULL) : NULL;
		CHECK(code == 400 && j && strcmp(json_string_value(json_object_get(j, "status")) ?: "", "bad_request") == 0 &&
		    strstr(json_string_value(json_object_get(j, "error")) ?: "",
		    "unknown layer 'nope' (configured: course-a, tools)") != NULL,
		    "layers=course-a,nope -> %ld %.300s", code, body);
		json_decref(j);
		free(body);
		body = NULL;
	}
	{
		const struct harness_part parts[] = { { "file", tar, 0, 1 }, { "wait", "1", 0, 0 },
			{ "layers", "../../etc", 0, 0 }, { NULL, NULL, 0, 0 } };

		code = post_task(d.port, "/", parts, &body);
		CHECK(code == 400 && body && strstr(body, "only letters"), "layers=../../etc -> %ld %.300s", code, body);
		free(body);
		body = NULL;
	}
	code = harness_http_get(d.port, "/status.json", &body);
	j = body ? json_loads(body, 0, NULL) : NULL;
	CHECK(code == 200 && j && json_integer_value(json_object_get(j, "tasks_run")) == 0 &&
	    json_integer_value(json_object_get(j, "uploads_rejected")) == 2, "refused tasks ran: %.300s", body);
	l = json_object_get(j, "layers");
	CHECK(json_array_size(l) == 2, "status.json layers: %.300s", body);
	CHECK(stat(img[0], &st) == 0 && json_array_size(l) == 2 &&
	    strcmp(json_string_value(json_object_get(json_array_get(l, 0), "name")) ?: "", "course-a") == 0 &&
	    json_integer_value(json_object_get(json_array_get(l, 0), "size")) == (json_int_t)st.st_size &&
	    json_integer_value(json_object_get(json_array_get(l, 0), "mtime")) == (json_int_t)st.st_mtim.tv_sec &&
	    strcmp(json_string_value(json_object_get(json_array_get(l, 1), "name")) ?: "", "tools") == 0,
	    "status.json layers: %.300s", body);
	json_decref(j);
	free(body);
	body = NULL;
	code = harness_http_get(d.port, "/", &body);
	/* The page draws status.json's layers (checked above) into this table. */
	CHECK(code == 200 && body && strstr(body, "id=\"layers-panel\"") && strstr(body, "id=\"layers\""),
	    "status page lacks the layers table");
	free(body);
	body = NULL;
	{
		const struct harness_part parts[] = { { "file", tar, 0, 1 }, { "wait", "1", 0, 0 },
			{ "layers", "course-a", 0, 0 }, { NULL, NULL, 0, 0 } };

		code = post_task(d.port, "/", parts, &body);
		j = body ? json_loads(body, 0, NULL) : NULL;
		CHECK(code == 200 && j && strcmp(json_string_value(json_object_get(j, "status")) ?: "", "finished") == 0 &&
		    strcmp(json_string_value(json_object_get(j, "stdout")) ?: "", "hello from a layer\ncourse-a\n") == 0,
		    "layers=course-a -> %ld %.600s", code, body);
		json_decref(j);
		free(body);
	}
	harness_daemon_fini(&d);
}

static const struct test {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "layers", test_layers },
	{ "tmc_client_json", test_tmc_client_json },
	{ "tmc_client_form", test_tmc_client_form },
	{ "wait_and_pages", test_wait_and_pages },
	{ "busy", test_busy },
	{ "concurrent_20", test_concurrent },
	{ "bad_inputs", test_bad_inputs },
	{ "tar_layouts", test_tar_layouts },
	{ "slow_loris", test_slow_loris },
	{ "tar_pit_beside_honest", test_tar_pit },
	{ "receiver_500_x3", test_receiver_500 },
	{ "receiver_down_10s", test_receiver_down },
	{ "sigkill_spooled", test_sigkill_spooled },
	{ "killed_mid_task_reruns", test_killed_mid_task },
	{ "killed_twice_internal", test_killed_twice },
	{ "killed_after_spooled", test_killed_after_spooled },
	{ "spool_full", test_spool_full },
	{ "result_cap", test_result_cap },
	{ "work_dir_unreachable", test_work_dir_unreachable },
	{ "sigterm_drain_bound", test_drain_bound },
	{ "sigterm_drains", test_drain },
	{ "preboot_same_result", test_preboot_same_result },
	{ "preboot_killed_replaced", test_preboot_killed },
	{ "preboot_timeout_from_post", test_preboot_timeout },
	{ "asan_50_tasks_fds", test_leaks },
};

/* ------------------------------------------------------------------ bench */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* POST to notify for a trivial task, median of 20 (DESIGN 7: 250 ms). */
static void bench_latency(void)
{
	struct harness_daemon d;
	char url[128];
	double lat[20];
	int n = 0;
	const char *tar = task_tar("trivial", "#!/bin/sh\necho ok\n");

	harness_rx_reset();
	harness_daemon_init(&d, tmp_root, "bench_latency");
	if (daemon_start(&d, NULL) != 0) {
		printf("bench: daemon did not start\n");
		return;
	}
	harness_notify_url(url, sizeof(url), harness_rx.port);
	for (int i = 0; i < 20; i++) {
		const struct harness_part parts[] = { { "file", tar, 0, 1 }, { "notify", url, 0, 0 },
			{ "token", "bench", 0, 0 }, { NULL, NULL, 0, 0 } };
		double t0 = harness_now_s();
		long code = post_task(d.port, "/tasks.json", parts, NULL);

		if (code != 200 || harness_rx_wait((size_t)i + 1, 30) != (size_t)i + 1) {
			printf("bench: task %d failed (HTTP %ld)\n", i, code);
			break;
		}
		lat[n++] = harness_rx.notes[i].at - t0;
		usleep(50000);	/* the slot is free before the callback; keep runs apart */
	}
	harness_daemon_fini(&d);
	if (n == 0)
		return;
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp_double);
	printf("bench: POST-to-notify, trivial task: median %.1f ms, min %.1f ms, max %.1f ms over %d "
	    "(budget 250 ms: %s)\n", lat[n / 2] * 1000, lat[0] * 1000, lat[n - 1] * 1000, n,
	    lat[n / 2] <= 0.25 ? "within" : "OVER");
}

/* Requests/s on GET /status.json with wrk while a task runs. */
static void bench_status_rps(void)
{
	struct harness_daemon d;
	char cmd[512], line[512];
	const struct harness_part parts[] = { { "file", task_tar("sleep20", "#!/bin/sh\nsleep 20\n"), 0, 1 },
		{ NULL, NULL, 0, 0 } };
	FILE *p;
	int seen = 0;

	harness_daemon_init(&d, tmp_root, "bench_rps");
	if (daemon_start(&d, NULL) != 0) {
		printf("bench: daemon did not start\n");
		return;
	}
	if (post_task(d.port, "/tasks.json", parts, NULL) != 200) {
		printf("bench: the background task was not accepted\n");
		harness_daemon_fini(&d);
		return;
	}
	snprintf(cmd, sizeof(cmd), "wrk -t2 -c16 -d5s http://127.0.0.1:%u/status.json 2>&1", d.port);
	p = popen(cmd, "r");
	while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
		if (strstr(line, "Requests/sec") || strstr(line, "Latency") || strstr(line, "Non-2xx") ||
		    strstr(line, "Socket errors")) {
			printf("bench: GET /status.json while a task runs (wrk -t2 -c16 -d5s): %s", line);
			seen = 1;
		}
	}
	if (p == NULL || pclose(p) != 0 || !seen)
		printf("bench: wrk did not run (is the wrk package installed?)\n");
	harness_daemon_stop(&d, SIGKILL);
	harness_daemon_fini(&d);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	char cmd[300];

	int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;

	if (bench) {
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: %s [--bench] SANDBOXD IMAGES_DIR [TEST ...]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	daemon_bin = argv[1];
	images_dir = argv[2];
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		printf("http_test: needs root: sandboxd starts UML as an unprivileged user only when run as root\n");
		printf("0 passed, 1 failed\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/http_test.XXXXXX");
	/* The UML user must reach the task dirs below it: 0755, not mkdtemp's 0700. */
	if (mkdtemp(tmp_root) == NULL || chmod(tmp_root, 0755) < 0 || harness_rx_start(0) < 0) {
		perror("http_test: setup");
		return 1;
	}
	if (bench) {
		bench_latency();
		bench_status_rps();
		harness_rx_stop();
		harness_rx_reset();
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
		if (system(cmd) != 0)
			printf("could not remove %s\n", tmp_root);
		curl_global_cleanup();
		return 0;
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (!harness_selected(tests[i].name, argv + 3, argc - 3))
			continue;
		/* A test may have left the receiver down. */
		if (harness_rx.mhd == NULL)
			harness_rx_start(harness_rx.port);
		if (harness_run_test(tests[i].name, tests[i].fn))
			passed++;
		else
			failed++;
	}
	harness_rx_stop();
	harness_rx_reset();
	if (getenv("HTTP_TEST_KEEP") == NULL && failed == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
		if (system(cmd) != 0)
			printf("could not remove %s\n", tmp_root);
	} else {
		printf("work dirs and logs kept in %s\n", tmp_root);
	}
	curl_global_cleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
