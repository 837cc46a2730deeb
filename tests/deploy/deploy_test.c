/*
 * deploy_test.c: the deployment of web/ end to end: a real nginx (Debian's,
 * with a private prefix and the site that web/nginx/gen-site.sh writes) in
 * front of three real sandboxd instances running real UML tasks, a real
 * notify receiver, the pool status page in headless Chromium, the systemd
 * unit under systemd-analyze, and a task run from a `make install` tree.
 * With --bench: tasks per minute through the pool with 1, 2 and 4
 * instances, a 2-instance pool for c-hello and java-junit with pre-boot on
 * and off (alternated, twice), and the memory of an idle and of a running
 * instance; --bench-preboot: the pre-boot rows only.
 *
 *   usage: deploy_test --build DIR --web DIR --stage DIR --prefix P [TEST...]
 *          deploy_test --bench|--bench-preboot --build DIR --web DIR --exercises DIR
 *          deploy_test --list
 *
 * Every port is picked by the OS: the harness binds 127.0.0.1:0 itself and
 * hands the socket to sandboxd (--listen-fd) and to nginx (nginx's own
 * inherited-socket variable NGINX="fd;"). Every process it starts is
 * recorded and killed on the way out, also on failure, on a signal and at
 * the global deadline. Prints one line per failed check, one per test and
 * a closing "N passed, M failed"; exits 1 on any failure. Needs root (the
 * sandbox confines UML only then) and nginx, chromium, systemd-analyze:
 * says which is missing and fails instead of passing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/http_harness.h"

#define DEADLINE_S 900		/* the whole run, tests or bench */
#define NINST 3			/* instances in the test pool */

static const char *build_dir, *web_dir, *stage_dir, *prefix, *exercises_dir;
static char tmp_root[64], abs_build[4096];
static void on_signal(int sig)
{
	static const char msg[] = "deploy_test: interrupted or past the deadline; stopping what it started\n";

	if (write(1, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	harness_procs_end();
	if (sig == SIGALRM) {
		static const char fail[] = "0 passed, 1 failed\n";

		if (write(1, fail, sizeof(fail) - 1) < 0) {
			/* nothing to do */
		}
	}
	_exit(1);
}

/* Runs argv with stdout (and stderr, unless errfile names a file for it)
 * into out (NUL-terminated, cut at outlen); returns the exit status, or -1
 * when it could not run or was killed at the timeout. */
static int run_cmd_err(const char *const *argv, double timeout, char *out, size_t outlen, const char *env,
    const char *errfile)
{
	int p[2], st = -1;
	size_t got = 0;
	pid_t pid;
	double until = harness_now_s() + timeout;
	char sink[4096];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		int err = errfile ? open(errfile, O_WRONLY | O_CREAT | O_APPEND, 0644) : p[1];

		dup2(null, 0);
		dup2(p[1], 1);
		dup2(err >= 0 ? err : p[1], 2);
		if (env != NULL)
			putenv((char *)env);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	harness_proc_add(pid);
	close(p[1]);
	if (out != NULL && outlen > 0)
		out[0] = '\0';
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		ssize_t n;

		if (harness_now_s() > until) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pf, 1, 200) <= 0)
			continue;
		if (out != NULL && got + 1 < outlen)
			n = read(p[0], out + got, outlen - 1 - got);
		else
			n = read(p[0], sink, sizeof(sink));
		if (n <= 0)
			break;
		if (out != NULL && got + 1 < outlen) {
			got += (size_t)n;
			out[got] = '\0';
		}
	}
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		st = -1;
	harness_proc_del(pid);
	if (harness_now_s() > until)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_cmd(const char *const *argv, double timeout, char *out, size_t outlen, const char *env)
{
	return run_cmd_err(argv, timeout, out, outlen, env, NULL);
}

static int have_tool(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p != '\0';) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
		if (access(buf, X_OK) == 0)
			return 1;
		p += n;
		if (*p == ':')
			p++;
	}
	return 0;
}

/* ---------------------------------------------------------------- receiver */

/* The status of the last notification with this token ("(none)" when it
 * has none), or NULL when none came. */
static const char *rx_status(const char *token)
{
	long i = harness_rx_find("token", token);
	const char *st;

	if (i < 0)
		return NULL;
	st = harness_rx_str((size_t)i, "status");
	return st ? st : "(none)";
}

/* ------------------------------------------------------------------ client */

/* The tmc-server way: multipart file (+ notify, token, wait), 180 s to
 * answer. */
static long post_task(unsigned port, const char *path, const char *tar, const char *notify, const char *token,
    int wait, char **body)
{
	struct harness_part parts[5] = { { "file", tar, 0, 1 } };
	size_t n = 1;

	if (notify != NULL)
		parts[n++] = (struct harness_part){ "notify", notify, 0, 0 };
	if (token != NULL)
		parts[n++] = (struct harness_part){ "token", token, 0, 0 };
	if (wait)
		parts[n++] = (struct harness_part){ "wait", "1", 0, 0 };
	parts[n] = (struct harness_part){ NULL, NULL, 0, 0 };
	return harness_post_task(port, path, parts, 180, body);
}

/* An integer field of a JSON text; -1 when absent. */
static long json_int_field(const char *text, const char *key)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	long v = -1;

	if (j != NULL && json_is_integer(json_object_get(j, key)))
		v = (long)json_integer_value(json_object_get(j, key));
	json_decref(j);
	return v;
}

/* ---------------------------------------------------------------- task tars */

/* TMP/NAME.tar, from a ring of paths: the bench keeps c-hello's and
 * java-junit's tars at once (a single static buffer once made every c-hello
 * row post java-junit's tar). */
static char *tar_path(const char *name)
{
	static char paths[16][300];
	static int next;
	char *tar = paths[next++ % 16];

	snprintf(tar, sizeof(paths[0]), "%s/%s.tar", tmp_root, name);
	return tar;
}

/* A tar of the directory DIR (an exercise, tests/exercises/NAME, or a
 * task dir made below), made with tar(1) as a course server would. */
static const char *dir_tar(const char *dir, const char *name)
{
	char *tar = tar_path(name);
	const char *argv[] = { "tar", "-C", dir, "-cf", tar, ".", NULL };

	if (run_cmd(argv, 30, NULL, 0, NULL) != 0)
		printf("    could not make %s\n", tar);
	return tar;
}

/* TMP/NAME.tar holding an executable tmc-run with this script. */
static const char *task_tar(const char *name, const char *script)
{
	char dir[300], run[340];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/task-%s", tmp_root, name);
	snprintf(run, sizeof(run), "%s/tmc-run", dir);
	mkdir(dir, 0755);
	f = fopen(run, "w");
	if (f == NULL)
		return tar_path(name);
	fputs(script, f);
	fclose(f);
	chmod(run, 0755);
	return dir_tar(dir, name);
}

#define ECHO_TASK "#!/bin/sh\necho 'hello from the pool'\nexit 0\n"

/* ------------------------------------------------------------------ nginx */

struct nginx {
	pid_t pid;
	int fd;
	unsigned port;
	char dir[300];
};

/* Writes the site with gen-site.sh for these instance ports and starts
 * nginx in the foreground on its inherited socket. */
static int nginx_start(struct nginx *ng, const char *name, const struct harness_daemon *ds, int n)
{
	char listen[64], addrs[8][32], out[4096], conf[360], env[32], gen[300];
	const char *argv[24];
	size_t k = 0;
	double until;

	memset(ng, 0, sizeof(*ng));
	ng->pid = -1;
	snprintf(ng->dir, sizeof(ng->dir), "%s/%s", tmp_root, name);
	if ((ng->fd = harness_bind_any(&ng->port)) < 0)
		return -1;
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", ng->port);
	snprintf(gen, sizeof(gen), "%s/nginx/gen-site.sh", web_dir);
	argv[k++] = gen;
	argv[k++] = "-s";
	argv[k++] = ng->dir;
	argv[k++] = "-f";
	argv[k++] = "-l";
	argv[k++] = listen;
	for (int i = 0; i < n && i < 8; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%u", ds[i].port);
		argv[k++] = addrs[i];
	}
	argv[k] = NULL;
	if (run_cmd(argv, 30, out, sizeof(out), NULL) != 0) {
		printf("    gen-site.sh failed: %s\n", out);
		return -1;
	}
	snprintf(conf, sizeof(conf), "%s/nginx.conf", ng->dir);
	snprintf(env, sizeof(env), "NGINX=%d;", ng->fd);
	ng->pid = fork();
	if (ng->pid < 0)
		return -1;
	if (ng->pid == 0) {
		char errpath[360];
		int null = open("/dev/null", O_RDWR), err;

		/* nginx's own start-up notices, before its error log is open. */
		snprintf(errpath, sizeof(errpath), "%s/logs/stderr.log", ng->dir);
		err = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(null, 0);
		if (err >= 0)
			dup2(err, 2);
		fcntl(ng->fd, F_SETFD, 0);
		putenv(env);
		execlp("nginx", "nginx", "-p", ng->dir, "-c", conf, (char *)NULL);
		_exit(127);
	}
	harness_proc_add(ng->pid);
	for (until = harness_now_s() + 10; harness_now_s() < until; usleep(20000)) {
		int st;

		if (waitpid(ng->pid, &st, WNOHANG) == ng->pid) {
			printf("    nginx exited at start (status %d); see %s/logs/error.log\n", st, ng->dir);
			harness_proc_del(ng->pid);
			ng->pid = -1;
			return -1;
		}
		if (harness_http_get(ng->port, "/pool/instances.json", NULL) == 200)
			return 0;
	}
	return -1;
}

static void nginx_stop(struct nginx *ng)
{
	if (ng->pid > 0) {
		kill(ng->pid, SIGTERM);
		waitpid(ng->pid, NULL, 0);
		harness_proc_del(ng->pid);
	}
	ng->pid = -1;
	if (ng->fd >= 0)
		close(ng->fd);
	ng->fd = -1;
}

/* ---------------------------------------------------------------- the pool */

static struct harness_daemon pool[NINST];
static struct nginx front;
static int pool_ok = -1;	/* -1 not yet started, 0 failed, 1 up */

static int pool_up(void)
{
	char sbd[4200];
	const char *extra[] = { "--images-dir", abs_build, NULL };

	if (pool_ok >= 0)
		return pool_ok;
	pool_ok = 0;
	snprintf(sbd, sizeof(sbd), "%s/sandboxd", abs_build);
	for (int i = 0; i < NINST; i++) {
		char name[32];

		snprintf(name, sizeof(name), "instance%d", i + 1);
		harness_daemon_init(&pool[i], tmp_root, name);
		if (harness_daemon_start(&pool[i], sbd, extra) < 0) {
			printf("    instance %d did not start (log %s)\n", i + 1, pool[i].log);
			return 0;
		}
	}
	if (nginx_start(&front, "nginx", pool, NINST) < 0) {
		printf("    nginx did not start\n");
		return 0;
	}
	printf("    nginx on 127.0.0.1:%u in front of instances on ports %u %u %u\n", front.port,
	    pool[0].port, pool[1].port, pool[2].port);
	pool_ok = 1;
	return 1;
}

static void pool_down(void)
{
	if (pool_ok < 0)
		return;
	nginx_stop(&front);
	for (int i = 0; i < NINST; i++)
		harness_daemon_fini(&pool[i]);
	pool_ok = -1;
}

/* Busy flag of instance i (1-based) through its per-instance URL; -1 on error. */
static long instance_busy(int i, long *tasks_run)
{
	char path[64], *body = NULL;
	long code, busy;

	snprintf(path, sizeof(path), "/sandbox/%d/status.json", i);
	code = harness_http_get(front.port, path, &body);
	busy = code == 200 ? json_int_field(body, "busy_instances") : -1;
	if (tasks_run != NULL)
		*tasks_run = code == 200 ? json_int_field(body, "tasks_run") : -1;
	free(body);
	return busy;
}

/* Waits until no instance is busy. */
static int pool_wait_idle(double timeout)
{
	for (double until = harness_now_s() + timeout; harness_now_s() < until; usleep(100000)) {
		int busy = 0;

		for (int i = 1; i <= NINST; i++)
			busy += instance_busy(i, NULL) != 0;
		if (busy == 0)
			return 0;
	}
	return -1;
}

struct conc {
	const char *tar, *token;
	pthread_barrier_t *bar;
	long code;
	char *body;
};

static void *conc_post(void *arg)
{
	struct conc *c = arg;
	char url[128];

	harness_notify_url(url, sizeof(url), harness_rx.port);
	pthread_barrier_wait(c->bar);
	c->code = post_task(front.port, "/pool/tasks.json", c->tar, url, c->token, 0, &c->body);
	return NULL;
}

/* Posts n tasks to the pool at the same moment; returns how many got 200. */
static int post_concurrently(int n, const char *tar, const char *prefix_tok, long *codes)
{
	pthread_t th[8];
	struct conc c[8];
	pthread_barrier_t bar;
	char toks[8][32];
	int ok = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		snprintf(toks[i], sizeof(toks[i]), "%s%d", prefix_tok, i + 1);
		c[i] = (struct conc){ tar, toks[i], &bar, 0, NULL };
		pthread_create(&th[i], NULL, conc_post, &c[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		codes[i] = c[i].code;
		ok += c[i].code == 200 && c[i].body && strcmp(c[i].body, "{\"status\":\"ok\"}") == 0;
		free(c[i].body);
	}
	pthread_barrier_destroy(&bar);
	return ok;
}

/* ------------------------------------------------------------------ tests */

static void test_pool_three_at_once(void)
{
	long codes[NINST], busy[NINST + 1];
	const char *tar = task_tar("sleep4", "#!/bin/sh\nsleep 4\necho slept\n");
	int ok;

	if (!pool_up()) {
		CHECK(0, "the pool did not come up");
		return;
	}
	harness_rx_reset();
	ok = post_concurrently(NINST, tar, "three-", codes);
	CHECK(ok == NINST, "%d of %d POSTs to /pool/tasks.json got 200 ok (codes %ld %ld %ld)", ok, NINST,
	    codes[0], codes[1], codes[2]);
	for (int i = 1; i <= NINST; i++) {
		busy[i] = instance_busy(i, NULL);
		CHECK(busy[i] == 1, "instance %d not busy right after the 3 POSTs (%ld): the pool did not spread them",
		    i, busy[i]);
	}
	CHECK(harness_rx_wait(NINST, 60) == NINST, "%zu of %d notifications arrived", harness_rx.nnotes, NINST);
	for (int i = 1; i <= NINST; i++) {
		char tok[32];
		const char *st;

		snprintf(tok, sizeof(tok), "three-%d", i);
		st = rx_status(tok);
		CHECK(st != NULL && strcmp(st, "finished") == 0, "notification %s: %s", tok, st ? st : "missing");
	}
	printf("    3 POSTs -> %ld %ld %ld, instances busy %ld %ld %ld, %zu notifications\n", codes[0], codes[1],
	    codes[2], busy[1], busy[2], busy[3], harness_rx.nnotes);
}

static void test_pool_fourth_busy(void)
{
	long codes[NINST], code;
	const char *tar = task_tar("sleep5", "#!/bin/sh\nsleep 5\n");
	char *body = NULL, url[128];
	double t0;

	if (!pool_up() || pool_wait_idle(60) < 0) {
		CHECK(0, "the pool is not up and idle");
		return;
	}
	harness_rx_reset();
	harness_notify_url(url, sizeof(url), harness_rx.port);
	CHECK(post_concurrently(NINST, tar, "fill-", codes) == NINST, "the 3 filling POSTs did not all get 200");
	t0 = harness_now_s();
	code = post_task(front.port, "/pool/tasks.json", task_tar("echo", ECHO_TASK), url, "fourth", 0, &body);
	CHECK(code == 500, "4th POST while all are busy -> %ld, wanted 500", code);
	CHECK(body && strcmp(body, "{\"status\":\"busy\"}") == 0, "4th POST body '%s'", body ? body : "");
	printf("    4th POST -> %ld %s after %.2fs\n", code, body ? body : "", harness_now_s() - t0);
	free(body);
	body = NULL;
	/* POST / (the original protocol's path) on the pool, too. */
	code = post_task(front.port, "/pool/", task_tar("echo", ECHO_TASK), url, "fourth-root", 0, NULL);
	CHECK(code == 500, "POST /pool/ while all are busy -> %ld, wanted 500", code);
	CHECK(harness_rx_wait(NINST, 60) == NINST, "%zu of %d notifications for the filling tasks", harness_rx.nnotes,
	    NINST);
	CHECK(pool_wait_idle(30) == 0, "instances still busy after their tasks");
	code = post_task(front.port, "/pool/", task_tar("echo", ECHO_TASK), url, "after", 0, &body);
	CHECK(code == 200, "POST after the tasks finished -> %ld (%s)", code, body ? body : "");
	free(body);
	CHECK(harness_rx_wait(NINST + 1, 30) == NINST + 1 && rx_status("after") != NULL &&
	    strcmp(rx_status("after"), "finished") == 0, "no notification for the task after");
	CHECK(rx_status("fourth") == NULL && rx_status("fourth-root") == NULL, "a refused task was run");
}

static void test_per_instance_urls(void)
{
	char url[128];

	if (!pool_up() || pool_wait_idle(60) < 0) {
		CHECK(0, "the pool is not up and idle");
		return;
	}
	harness_rx_reset();
	harness_notify_url(url, sizeof(url), harness_rx.port);
	for (int i = 1; i <= NINST; i++) {
		char path[64], tok[32], *body = NULL;
		long before[NINST + 1], after, code;

		for (int k = 1; k <= NINST; k++)
			instance_busy(k, &before[k]);
		snprintf(path, sizeof(path), "/sandbox/%d/tasks.json", i);
		snprintf(tok, sizeof(tok), "instance-%d", i);
		code = post_task(front.port, path, task_tar("echo", ECHO_TASK), url, tok, 0, &body);
		CHECK(code == 200, "POST %s -> %ld (%s)", path, code, body ? body : "");
		free(body);
		CHECK(harness_rx_wait((size_t)i, 30) == (size_t)i && rx_status(tok) != NULL &&
		    strcmp(rx_status(tok), "finished") == 0, "no finished notification for %s", tok);
		usleep(200000);
		for (int k = 1; k <= NINST; k++) {
			instance_busy(k, &after);
			CHECK(after == before[k] + (k == i), "after POST %s instance %d ran %ld tasks, had %ld",
			    path, k, after, before[k]);
		}
		/* wait=1 and the plain path POST / of the original protocol. */
		snprintf(path, sizeof(path), "/sandbox/%d/", i);
		code = post_task(front.port, path, task_tar("echo", ECHO_TASK), NULL, "w", 1, &body);
		CHECK(code == 200 && body && strstr(body, "\"status\":\"finished\"") &&
		    strstr(body, "hello from the pool"), "POST %s wait=1 -> %ld %.200s", path, code, body ? body : "");
		free(body);
		printf("    /sandbox/%d/: notify and wait=1 both finished on instance %d\n", i, i);
	}
}

static void test_pool_status_json(void)
{
	char *body = NULL;
	json_t *j, *arr;
	long code;

	if (!pool_up()) {
		CHECK(0, "the pool did not come up");
		return;
	}
	code = harness_http_get(front.port, "/pool/status.json", &body);
	j = body ? json_loads(body, 0, NULL) : NULL;
	arr = json_object_get(j, "instances");
	CHECK(code == 200 && j != NULL, "GET /pool/status.json -> %ld, not JSON: %.200s", code, body ? body : "");
	CHECK(json_integer_value(json_object_get(j, "total_instances")) == NINST, "total_instances");
	CHECK(json_array_size(arr) == NINST, "%zu instances listed", json_array_size(arr));
	for (size_t i = 0; i < json_array_size(arr); i++)
		CHECK(json_is_integer(json_object_get(json_array_get(arr, i), "busy_instances")),
		    "instance %zu without busy_instances", i + 1);
	json_decref(j);
	free(body);
	code = harness_http_get(front.port, "/pool/instances.json", &body);
	CHECK(code == 200 && body && strstr(body, "/sandbox/3/"), "instances.json -> %ld %s", code, body ? body : "");
	free(body);
	code = harness_http_get(front.port, "/", &body);
	CHECK(code == 200 && body && strstr(body, "status.js"), "GET / (the status page) -> %ld", code);
	free(body);
}

/* The data-state of instance i's row in a dumped DOM. */
static void card_state(const char *dom, int i, char *state, size_t len)
{
	char key[48];
	const char *p, *s;

	snprintf(state, len, "missing");
	snprintf(key, sizeof(key), "data-instance=\"%d\"", i);
	if ((p = strstr(dom, key)) == NULL)
		return;
	s = strstr(p, "data-state=\"");
	if (s == NULL || s - p > 200)
		return;
	s += strlen("data-state=\"");
	snprintf(state, len, "%.*s", (int)strcspn(s, "\""), s);
}

/* The page's window: wide and tall enough for the whole page. */
static void chromium_argv(const char **argv, char *profile, const char *mode, const char *url)
{
	size_t n = 0;

	argv[n++] = "chromium";
	argv[n++] = "--headless";
	argv[n++] = "--no-sandbox";
	argv[n++] = "--disable-gpu";
	argv[n++] = "--disable-dev-shm-usage";
	argv[n++] = "--no-first-run";
	argv[n++] = "--disable-background-networking";
	argv[n++] = "--disable-component-update";
	argv[n++] = "--disable-sync";
	argv[n++] = "--hide-scrollbars";
	argv[n++] = "--window-size=1280,1000";
	argv[n++] = "--virtual-time-budget=8000";
	argv[n++] = profile;
	argv[n++] = mode;
	argv[n++] = url;
	argv[n] = NULL;
}

static int count_str(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

#define MAX_IDS 512

/* The ids of the tasks in the history.json at each path (through port),
 * appended to ids; the number of them, or -1 when one was unreadable. */
static int history_ids(unsigned port, const char *const *paths, int npaths, char ids[][48])
{
	int n = 0;

	for (int i = 0; i < npaths; i++) {
		char *body = NULL;
		long code = harness_http_get(port, paths[i], &body);
		json_t *j = body ? json_loads(body, 0, NULL) : NULL, *t;
		size_t k;

		if (code != 200 || j == NULL) {
			json_decref(j);
			free(body);
			return -1;
		}
		json_array_foreach(json_object_get(j, "tasks"), k, t)
			if (n < MAX_IDS)
				snprintf(ids[n++], 48, "%s", json_string_value(json_object_get(t, "id")) ?: "");
		json_decref(j);
		free(body);
	}
	return n;
}

/* The duration plot in the dumped DOM has one mark per task the
 * instances' histories listed just before the dump (each by its id,
 * once), and at most those listed just after it (a task may finish in
 * between); our own ids (mine) among them. Returns the number of marks. */
static int check_marks(const char *dom, int nbefore, char before[][48], int nafter, const char *const *mine,
    int nmine)
{
	int marks = count_str(dom, "class=\"task status-");

	CHECK(nbefore >= nmine && marks >= nbefore && marks <= nafter,
	    "%d task marks on the page; the histories listed %d before the dump, %d after", marks, nbefore, nafter);
	for (int i = 0; i < nbefore; i++) {
		char key[80];

		snprintf(key, sizeof(key), "data-task=\"%s\"", before[i]);
		CHECK(count_str(dom, key) == 1, "task %s has %d marks", before[i], count_str(dom, key));
	}
	for (int i = 0; i < nmine; i++) {
		int found = 0;

		for (int k = 0; k < nbefore; k++)
			found |= strcmp(before[k], mine[i]) == 0;
		CHECK(found, "our task %s is not in the histories", mine[i]);
	}
	return marks;
}

/* The count shown in the last-hour row of status/reason ("failed/exit"). */
static long kind_count(const char *dom, const char *kind)
{
	char key[64];
	const char *p, *num;

	snprintf(key, sizeof(key), "data-kind=\"%s\"", kind);
	if ((p = strstr(dom, key)) == NULL || (num = strstr(p, "class=\"num\">")) == NULL || num - p > 400)
		return -1;
	return strtol(num + strlen("class=\"num\">"), NULL, 10);
}

/* Dumps the DOM of url into dom (1 MB) and saves a screenshot at shot;
 * 0 when both worked. */
static int page_in_chromium(const char *url, char *dom, const char *shot)
{
	char profile[200], shotarg[4300], errlog[200];
	const char *argv[20];
	struct stat st;
	int rc;

	snprintf(profile, sizeof(profile), "--user-data-dir=%s/chromium", tmp_root);
	snprintf(errlog, sizeof(errlog), "%s/chromium.log", tmp_root);
	chromium_argv(argv, profile, "--dump-dom", url);
	rc = run_cmd_err(argv, 120, dom, 1 << 20, NULL, errlog);
	CHECK(rc == 0, "chromium --dump-dom exited %d (its log: %s)", rc, errlog);
	if (rc != 0)
		return -1;
	snprintf(shotarg, sizeof(shotarg), "--screenshot=%s", shot);
	unlink(shot);
	chromium_argv(argv, profile, shotarg, url);
	rc = run_cmd_err(argv, 120, NULL, 0, NULL, errlog);
	CHECK(rc == 0 && stat(shot, &st) == 0 && st.st_size > 10000, "no screenshot at %s (%d; log %s)",
	    shot, rc, errlog);
	printf("    screenshot: %s\n", shot);
	return rc == 0 ? 0 : -1;
}

/* The id of the task a wait=1 answer reports... which the answer does not
 * carry: the newest in the instance's history. */
static void newest_id(unsigned port, const char *history, char *id)
{
	char *body = NULL;
	json_t *j, *tasks;

	harness_http_get(port, history, &body);
	j = body ? json_loads(body, 0, NULL) : NULL;
	tasks = json_object_get(j, "tasks");
	snprintf(id, 48, "%s", json_string_value(json_object_get(json_array_get(tasks, json_array_size(tasks) - 1),
	    "id")) ?: "none");
	json_decref(j);
	free(body);
}

/* The pool page behind nginx: one row per instance (1 idle after tasks,
 * 2 busy with a task running, 3 down), the plot with one mark per task
 * of the instances that answer, the counts, the backlog. */
static void test_status_page(void)
{
	char url[128], shot[4200], *dom, state[32], mine[3][48];
	const char *want[NINST + 1] = { NULL, "idle", "busy", "down" };
	const char *paths[] = { "/sandbox/1/history.json", "/sandbox/2/history.json" };
	const char *mine_p[3] = { mine[0], mine[1], mine[2] };
	static char before[MAX_IDS][48], after[MAX_IDS][48];
	int nbefore, nafter;
	long code;

	if (!have_tool("chromium")) {
		CHECK(0, "chromium is not installed (Debian package chromium): cannot check the status page");
		return;
	}
	if (!pool_up() || pool_wait_idle(60) < 0) {
		CHECK(0, "the pool is not up and idle");
		return;
	}
	/* Three real tasks of ours: finished and failed on 1, finished on 2;
	 * then 2 busy with a long one and 3 down. */
	code = post_task(front.port, "/sandbox/1/", task_tar("echo", ECHO_TASK), NULL, "page", 1, NULL);
	CHECK(code == 200, "task on instance 1 -> %ld", code);
	newest_id(front.port, paths[0], mine[0]);
	code = post_task(front.port, "/sandbox/1/", task_tar("exit3", "#!/bin/sh\necho failing\nexit 3\n"), NULL,
	    "page", 1, NULL);
	CHECK(code == 200, "failing task on instance 1 -> %ld", code);
	newest_id(front.port, paths[0], mine[1]);
	code = post_task(front.port, "/sandbox/2/", task_tar("echo", ECHO_TASK), NULL, "page", 1, NULL);
	CHECK(code == 200, "task on instance 2 -> %ld", code);
	newest_id(front.port, paths[1], mine[2]);
	code = post_task(front.port, "/sandbox/2/", task_tar("sleep45", "#!/bin/sh\nsleep 45\n"), NULL, "page", 0, NULL);
	CHECK(code == 200, "long task on instance 2 -> %ld", code);
	/* Really down, as a stopped service: nothing listens on its port. */
	harness_daemon_fini(&pool[2]);

	nbefore = history_ids(front.port, paths, 2, before);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", front.port);
	snprintf(shot, sizeof(shot), "%s/status-pool.png", abs_build);
	dom = malloc(1 << 20);
	if (dom == NULL || page_in_chromium(url, dom, shot) < 0) {
		free(dom);
		pool_down();
		return;
	}
	nafter = history_ids(front.port, paths, 2, after);
	for (int i = 1; i <= NINST; i++) {
		card_state(dom, i, state, sizeof(state));
		CHECK(strcmp(state, want[i]) == 0, "instance %d shown as '%s', wanted '%s'", i, state, want[i]);
		printf("    page: instance %d %s\n", i, state);
	}
	CHECK(strstr(dom, "3 instances: 1 busy, 1 idle, 1 down") != NULL, "summary line not on the page");
	CHECK(strstr(dom, "data-age=") != NULL, "the running task's age is not shown");
	printf("    page: %d task marks (histories: %d before the dump, %d after; 3 ours)\n",
	    check_marks(dom, nbefore, before, nafter, mine_p, 3), nbefore, nafter);
	CHECK(kind_count(dom, "failed/exit") >= 1 && kind_count(dom, "finished") >= 2,
	    "last-hour counts: finished %ld, failed/exit %ld", kind_count(dom, "finished"),
	    kind_count(dom, "failed/exit"));
	CHECK(strstr(dom, "class=\"pending\"") != NULL, "no backlog plot");
	free(dom);
	/* Instance 3's port is gone: the next test gets a fresh pool. */
	pool_down();
}

/* Prometheus's own linter (promtool, Debian package prometheus) on an
 * instance's /metrics: names, types, histogram series. */
static void check_metrics_lint(unsigned port)
{
	char *body = NULL, path[200];
	const char *argv[] = { "sh", "-c", NULL, NULL };
	char cmd[300], out[4096];
	FILE *f;
	int rc;

	if (!have_tool("promtool")) {
		CHECK(0, "promtool is not installed (Debian package prometheus; make deps): cannot lint /metrics");
		return;
	}
	CHECK(harness_http_get(port, "/metrics", &body) == 200 && body, "GET /metrics");
	snprintf(path, sizeof(path), "%s/metrics.txt", tmp_root);
	f = fopen(path, "w");
	CHECK(f != NULL, "cannot write %s", path);
	if (f != NULL) {
		fputs(body ? body : "", f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s'", path);
		argv[2] = cmd;
		rc = run_cmd(argv, 60, out, sizeof(out), NULL);
		CHECK(rc == 0, "promtool check metrics on /metrics -> %d: %s", rc, out);
	}
	free(body);
}

/* One sandboxd alone serves the same page at its /: four real tasks
 * (finished, failed/exit, timeout, and one whose receiver is down), one
 * mark each, the counts, and the delivery failure as the last error. */
static void test_status_page_single(void)
{
	struct harness_daemon d;
	char sbd[4200], url[160], notify[96], shot[4200], *dom;
	const char *extra[] = { "--images-dir", abs_build, NULL };
	const char *paths[] = { "/history.json" };
	static char before[MAX_IDS][48], after[MAX_IDS][48];
	char mine[4][48];
	const char *mine_p[4] = { mine[0], mine[1], mine[2], mine[3] };
	int nbefore, nafter, fd;
	unsigned deadport = 0;
	long code;

	if (!have_tool("chromium")) {
		CHECK(0, "chromium is not installed (Debian package chromium): cannot check the status page");
		return;
	}
	/* A port nothing listens on: the receiver that is down. */
	fd = harness_bind_any(&deadport);
	CHECK(fd >= 0, "no free port");
	if (fd >= 0)
		close(fd);
	snprintf(sbd, sizeof(sbd), "%s/sandboxd", abs_build);
	harness_daemon_init(&d, tmp_root, "single-page");
	if (harness_daemon_start(&d, sbd, extra) < 0) {
		CHECK(0, "sandboxd did not start (log %s)", d.log);
		harness_daemon_fini(&d);
		return;
	}
	code = post_task(d.port, "/tasks.json", task_tar("echo", ECHO_TASK), NULL, "single", 1, NULL);
	CHECK(code == 200, "finished task -> %ld", code);
	newest_id(d.port, paths[0], mine[0]);
	code = post_task(d.port, "/tasks.json", task_tar("exit3", "#!/bin/sh\necho failing\nexit 3\n"), NULL,
	    "single", 1, NULL);
	CHECK(code == 200, "failing task -> %ld", code);
	newest_id(d.port, paths[0], mine[1]);
	{
		const struct harness_part parts[] = { { "file", task_tar("sleep30", "#!/bin/sh\nsleep 30\n"), 0, 1 },
			{ "timeout", "1", 0, 0 }, { "wait", "1", 0, 0 }, { NULL, NULL, 0, 0 } };
		char *body = NULL;

		code = harness_post_task(d.port, "/tasks.json", parts, 120, &body);
		CHECK(code == 200 && body && strstr(body, "\"status\":\"timeout\""), "timeout task -> %ld %.100s", code,
		    body ?: "");
		free(body);
	}
	newest_id(d.port, paths[0], mine[2]);
	snprintf(notify, sizeof(notify), "http://127.0.0.1:%u/results", deadport);
	code = post_task(d.port, "/tasks.json", task_tar("echo", ECHO_TASK), notify, "single", 0, NULL);
	CHECK(code == 200, "task for a receiver that is down -> %ld", code);
	for (double until = harness_now_s() + 60; harness_now_s() < until; usleep(200000)) {
		char *body = NULL;

		harness_http_get(d.port, "/status.json", &body);
		if (body && strstr(body, "\"busy_instances\":0") && strstr(body, "delivery of task")) {
			free(body);
			break;
		}
		free(body);
	}
	newest_id(d.port, paths[0], mine[3]);
	check_metrics_lint(d.port);

	nbefore = history_ids(d.port, paths, 1, before);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", d.port);
	snprintf(shot, sizeof(shot), "%s/status-single.png", abs_build);
	dom = malloc(1 << 20);
	if (dom != NULL && page_in_chromium(url, dom, shot) == 0) {
		nafter = history_ids(d.port, paths, 1, after);
		CHECK(check_marks(dom, nbefore, before, nafter, mine_p, 4) == 4, "not one mark per task");
		CHECK(nbefore == 4, "the history lists %d tasks, wanted 4", nbefore);
		CHECK(kind_count(dom, "finished") == 2 && kind_count(dom, "failed/exit") == 1 &&
		    kind_count(dom, "timeout") == 1 && kind_count(dom, "failed/oom") == 0,
		    "last-hour counts: finished %ld, failed/exit %ld, timeout %ld", kind_count(dom, "finished"),
		    kind_count(dom, "failed/exit"), kind_count(dom, "timeout"));
		CHECK(strstr(dom, "<h1 id=\"title\">sandboxd</h1>") != NULL, "not titled as one instance");
		CHECK(strstr(dom, "data-state=\"idle\"") != NULL, "the instance is not shown idle");
		CHECK(strstr(dom, "delivery of task") != NULL, "the delivery failure is not the last error");
		printf("    page: 4 task marks; finished 2, failed/exit 1, timeout 1; last error shown\n");
	}
	free(dom);
	harness_daemon_fini(&d);
}

/* The staged unit with its paths moved into the stage (the tree is not at
 * its prefix), written to tmp_root as NAME; 0 or -1. */
static int stage_unit(const char *root, const char *src, const char *name, char *dst, size_t dstlen)
{
	char in[4800], buf[16384], from[600];
	FILE *f;
	size_t n, flen;

	snprintf(in, sizeof(in), "%s%s/lib/systemd/system/%s", root, prefix, src);
	snprintf(dst, dstlen, "%s/units/%s", tmp_root, name);
	snprintf(from, sizeof(from), "%s/", prefix);
	flen = strlen(from);
	if ((f = fopen(in, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((f = fopen(dst, "w")) == NULL)
		return -1;
	for (const char *p = buf; *p != '\0';) {
		if (strncmp(p, from, flen) == 0) {
			fprintf(f, "%s%s", root, from);
			p += flen;
		} else {
			fputc(*p++, f);
		}
	}
	return fclose(f);
}

static void test_systemd_unit(void)
{
	char root[4200], unit[600], target[600], out[8192], dir[200], manpath[4400];
	const char *argv[8];
	int rc;

	if (!have_tool("systemd-analyze")) {
		CHECK(0, "systemd-analyze is missing (Debian package systemd): cannot verify the unit");
		return;
	}
	if (realpath(stage_dir, root) == NULL) {
		CHECK(0, "no install stage at %s (make deploy-stage)", stage_dir);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/units", tmp_root);
	mkdir(dir, 0755);
	/* The instance name is its port. verify checks that ExecStart= is an
	 * executable: the staged sandboxd. */
	CHECK(stage_unit(root, "sandboxd@.service", "sandboxd@8081.service", unit, sizeof(unit)) == 0,
	    "cannot stage the unit");
	CHECK(stage_unit(root, "tmc-sandbox.target", "tmc-sandbox.target", target, sizeof(target)) == 0,
	    "cannot stage the target");
	argv[0] = "systemd-analyze";
	argv[1] = "verify";
	argv[2] = unit;
	argv[3] = target;
	argv[4] = NULL;
	/* verify runs man for the unit's Documentation=man:sandboxd(8): the
	 * staged page, which is not installed on this host. */
	snprintf(manpath, sizeof(manpath), "MANPATH=%s%s/share/man", root, prefix);
	rc = run_cmd(argv, 60, out, sizeof(out), manpath);
	CHECK(rc == 0 && out[0] == '\0', "systemd-analyze verify exited %d: %s", rc, out);
	printf("    systemd-analyze verify sandboxd@8081.service tmc-sandbox.target -> %d%s%s\n", rc,
	    out[0] ? ": " : "", out);
}

/* The unit as systemd runs it, hardening and all: systemd_probe.sh starts
 * sandboxd@PORT from the staged tree under a real systemd and runs a task. */
static void test_systemd_runs_task(void)
{
	char probe[4200], portarg[16], out[8192];
	unsigned port;
	int fd, rc;
	const char *argv[12];

	if (!have_tool("curl") || !have_tool("unshare") || access("/lib/systemd/systemd", X_OK) != 0) {
		CHECK(0, "curl, unshare or /lib/systemd/systemd missing (packages curl, util-linux, systemd)");
		return;
	}
	/* The unit binds its own port (the instance name): take a free one
	 * from the OS and release it just before. */
	fd = harness_bind_any(&port);
	CHECK(fd >= 0, "no free port");
	if (fd < 0)
		return;
	close(fd);
	snprintf(portarg, sizeof(portarg), "%u", port);
	snprintf(probe, sizeof(probe), "%s/../tests/deploy/systemd_probe.sh", web_dir);
	argv[0] = probe;
	argv[1] = "-s";
	argv[2] = stage_dir;
	argv[3] = "-p";
	argv[4] = prefix;
	argv[5] = "-P";
	argv[6] = portarg;
	argv[7] = "-t";
	argv[8] = task_tar("echo", ECHO_TASK);
	argv[9] = NULL;
	rc = run_cmd(argv, 120, out, sizeof(out), NULL);
	CHECK(rc == 0, "systemd_probe.sh exited %d: %s", rc, out);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		printf("    %s\n", line);
}

static void test_install_tree(void)
{
	char root[4200], p[8][4400], sbd[4400], out[16384], *body = NULL;
	const char *rel[] = { "/sbin/sandboxd", "/bin/sandbox-run", "/lib/tmc-sandbox/linux.uml",
		"/lib/tmc-sandbox/initrd.img", "/lib/tmc-sandbox/rootfs.squashfs", "/lib/tmc-sandbox/lpj",
		"/lib/tmc-sandbox/tmc-unpack",
		"/share/tmc-sandbox/policy.default", "/etc/tmc-sandbox/sandboxd.conf",
		"/share/tmc-sandbox/web/status/index.html", "/share/tmc-sandbox/web/nginx/gen-site.sh",
		"/share/tmc-sandbox/web/instances.sh", "/share/doc/tmc-sandbox/DEPLOYMENT.md",
		"/lib/systemd/system/sandboxd@.service", "/lib/sysusers.d/tmc-sandbox.conf" };
	struct harness_daemon d;
	long code;
	int rc;

	if (realpath(stage_dir, root) == NULL) {
		CHECK(0, "no install stage at %s", stage_dir);
		return;
	}
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char f[4800];

		snprintf(f, sizeof(f), "%s%s%s", root, prefix, rel[i]);
		CHECK(access(f, R_OK) == 0, "not installed: %s", f);
	}
	/* The shipped config names the installed images. */
	snprintf(p[0], sizeof(p[0]), "%s%s/etc/tmc-sandbox/sandboxd.conf", root, prefix);
	{
		FILE *f = fopen(p[0], "r");
		size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
		char want[700];

		if (f)
			fclose(f);
		out[n] = '\0';
		snprintf(want, sizeof(want), "images-dir = %s/lib/tmc-sandbox", prefix);
		CHECK(strstr(out, want) != NULL, "%s lacks '%s'", p[0], want);
	}
	/* sandboxd from the tree: its config, with the staged paths given by
	 * the documented flags (the tree is not at its prefix yet). */
	snprintf(sbd, sizeof(sbd), "%s%s/sbin/sandboxd", root, prefix);
	snprintf(p[1], sizeof(p[1]), "%s%s/lib/tmc-sandbox", root, prefix);
	snprintf(p[2], sizeof(p[2]), "%s%s/share/tmc-sandbox/policy.default", root, prefix);
	{
		const char *extra[] = { "--config", p[0], "--images-dir", p[1], "--policy", p[2], NULL };

		harness_daemon_init(&d, tmp_root, "installed");
		CHECK(harness_daemon_start(&d, sbd, extra) == 0, "installed sandboxd did not start (log %s)", d.log);
	}
	if (d.pid > 0) {
		code = post_task(d.port, "/tasks.json", task_tar("echo", ECHO_TASK), NULL, "inst", 1, &body);
		CHECK(code == 200 && body && strstr(body, "\"status\":\"finished\"") && strstr(body, "hello from the pool"),
		    "task on the installed sandboxd -> %ld %.300s", code, body ? body : "");
		printf("    installed sandboxd (%s): task -> %ld %s\n", sbd, code,
		    body && strstr(body, "\"status\":\"finished\"") ? "finished" : "NOT finished");
		free(body);
	}
	harness_daemon_fini(&d);
	/* sandbox-run from the tree finds the images next to itself. */
	snprintf(p[3], sizeof(p[3]), "%s%s/bin/sandbox-run", root, prefix);
	snprintf(p[4], sizeof(p[4]), "%s/task-echo", tmp_root);
	{
		const char *argv[] = { p[3], "--compact", "--work-root", tmp_root, p[4], NULL };

		rc = run_cmd(argv, 120, out, sizeof(out), NULL);
	}
	CHECK(rc == 0 && strstr(out, "\"status\":\"finished\""), "installed sandbox-run without --images -> %d %.300s",
	    rc, out);
	printf("    installed sandbox-run (no --images): %s\n", rc == 0 && strstr(out, "finished") ? "finished" : "FAILED");
	/* The installed generator writes a site nginx accepts. */
	{
		char gen[4400], dir[300], conf[340];
		const char *argv[] = { gen, "-s", dir, "127.0.0.1:8081", "127.0.0.1:8082", NULL };
		const char *t[] = { "nginx", "-t", "-p", dir, "-c", conf, NULL };

		snprintf(gen, sizeof(gen), "%s%s/share/tmc-sandbox/web/nginx/gen-site.sh", root, prefix);
		snprintf(dir, sizeof(dir), "%s/installed-nginx", tmp_root);
		snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
		rc = run_cmd(argv, 30, out, sizeof(out), NULL);
		CHECK(rc == 0, "installed gen-site.sh -> %d %s", rc, out);
		rc = run_cmd(t, 30, out, sizeof(out), NULL);
		CHECK(rc == 0, "nginx -t on the installed site -> %d %s", rc, out);
	}
}

/* web/instances.sh: start, status, a task, stop (one instance on a port
 * the OS picked, released just before: the script binds by number). */
static void test_instances_sh(void)
{
	char script[4200], sbd[4200], dir[200], portarg[16], out[4096], *body = NULL;
	const char *argv[16];
	unsigned port;
	long code;
	int fd, rc;

	fd = harness_bind_any(&port);
	CHECK(fd >= 0, "no free port");
	if (fd < 0)
		return;
	close(fd);
	snprintf(script, sizeof(script), "%s/instances.sh", web_dir);
	snprintf(sbd, sizeof(sbd), "%s/sandboxd", abs_build);
	snprintf(dir, sizeof(dir), "%s/instances-sh", tmp_root);
	snprintf(portarg, sizeof(portarg), "%u", port);
	argv[0] = script;
	argv[1] = "-n";
	argv[2] = "1";
	argv[3] = "-b";
	argv[4] = portarg;
	argv[5] = "-d";
	argv[6] = dir;
	argv[7] = "-x";
	argv[8] = sbd;
	argv[9] = "-w";
	argv[10] = "60";
	argv[11] = "start";
	argv[12] = "--";
	argv[13] = "--images-dir";
	argv[14] = abs_build;
	argv[15] = NULL;
	rc = run_cmd(argv, 60, out, sizeof(out), NULL);
	CHECK(rc == 0 && strstr(out, "started"), "instances.sh start -> %d: %s", rc, out);
	argv[11] = "status";
	argv[12] = NULL;
	rc = run_cmd(argv, 30, out, sizeof(out), NULL);
	CHECK(rc == 0 && strstr(out, "running") && strstr(out, "idle"), "instances.sh status -> %d: %s", rc, out);
	code = post_task(port, "/tasks.json", task_tar("echo", ECHO_TASK), NULL, "sh", 1, &body);
	CHECK(code == 200 && body && strstr(body, "\"status\":\"finished\""), "task on the instance -> %ld", code);
	free(body);
	argv[11] = "stop";
	rc = run_cmd(argv, 90, out, sizeof(out), NULL);
	CHECK(rc == 0 && strstr(out, "stopped"), "instances.sh stop -> %d: %s", rc, out);
	argv[11] = "status";
	rc = run_cmd(argv, 30, out, sizeof(out), NULL);
	CHECK(rc == 3 && strstr(out, "not running"), "instances.sh status after stop -> %d: %s", rc, out);
	printf("    instances.sh: start, status (idle), task finished, stop, status (not running) on port %u\n", port);
}

static const struct test {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "pool_three_at_once", test_pool_three_at_once },
	{ "pool_fourth_busy", test_pool_fourth_busy },
	{ "per_instance_urls", test_per_instance_urls },
	{ "pool_status_json", test_pool_status_json },
	{ "status_page_chromium", test_status_page },
	{ "status_page_single_chromium", test_status_page_single },
	{ "systemd_unit_verify", test_systemd_unit },
	{ "systemd_unit_runs_task", test_systemd_runs_task },
	{ "install_tree_runs_task", test_install_tree },
	{ "instances_sh", test_instances_sh },
};

/* ------------------------------------------------------------------ bench */

/* Sum of a field (kB) of /proc/PID/status or smaps_rollup over pid and its
 * descendants; *count gets the number of processes. */
static long tree_kb(pid_t root, const char *file, const char *field, int *count)
{
	DIR *dp = opendir("/proc");
	struct dirent *de;
	pid_t pids[4096], ppids[4096];
	int n = 0, in[4096] = { 0 }, changed = 1;
	long sum = 0;

	while (dp != NULL && (de = readdir(dp)) != NULL && n < 4096) {
		char path[300], line[512];
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		pids[n] = atoi(de->d_name);
		ppids[n] = 0;
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "PPid:", 5) == 0)
				ppids[n] = atoi(line + 5);
		fclose(f);
		in[n] = pids[n] == root;
		n++;
	}
	if (dp != NULL)
		closedir(dp);
	while (changed) {
		changed = 0;
		for (int i = 0; i < n; i++)
			for (int k = 0; !in[i] && k < n; k++)
				if (in[k] && ppids[i] == pids[k])
					in[i] = changed = 1;
	}
	*count = 0;
	for (int i = 0; i < n; i++) {
		char path[300], line[512];
		FILE *f;

		if (!in[i])
			continue;
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pids[i], file);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		(*count)++;
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, field, strlen(field)) == 0)
				sum += atol(line + strlen(field));
		fclose(f);
	}
	return sum;
}

struct bench_client {
	unsigned port;
	const char *tar;
	double until;
	int done, failed, busy;
};

/* Loops: POST to the pool with wait=1 until the time is up; a busy answer
 * is retried after a short pause (the client that tmc-server would be). */
static void *bench_client(void *arg)
{
	struct bench_client *b = arg;

	while (harness_now_s() < b->until) {
		char *body = NULL;
		long code = post_task(b->port, "/pool/tasks.json", b->tar, NULL, "bench", 1, &body);

		if (code == 200 && body && strstr(body, "\"status\":\"finished\""))
			b->done++;
		else if (code == 500 && body && strstr(body, "busy"))
			b->busy++, usleep(20000);
		else
			b->failed++;
		free(body);
	}
	return NULL;
}

/* preboot: "on", "off", or NULL for sandboxd's default. */
static void bench_throughput(int ninst, const char *what, const char *tar, double seconds, const char *preboot)
{
	struct harness_daemon ds[4];
	struct nginx ng;
	struct bench_client bc[4];
	pthread_t th[4];
	char sbd[4200];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int done = 0, failed = 0, busy = 0;
	double t0, el, load0, load[1];

	snprintf(sbd, sizeof(sbd), "%s/sandboxd", abs_build);
	for (int i = 0; i < ninst; i++) {
		char name[48], cpu[16];
		/* Instance i on CPU i mod n, as web/instances.sh and the systemd
		 * template place a pool: --cpu auto would take the parity of the
		 * harness's random ports, and two instances on one CPU measured
		 * 15x slower tasks (UML's handoffs wait for each other's slices). */
		const char *extra[] = { "--images-dir", abs_build, "--cpu", cpu,
			preboot ? "--preboot" : NULL, preboot, NULL };

		snprintf(cpu, sizeof(cpu), "%ld", ncpu > 0 ? i % ncpu : 0);
		snprintf(name, sizeof(name), "bench-%s-%d-%d", what, ninst, i);
		harness_daemon_init(&ds[i], tmp_root, name);
		if (harness_daemon_start(&ds[i], sbd, extra) < 0) {
			printf("bench: instance did not start (log %s)\n", ds[i].log);
			goto out;
		}
	}
	{
		char name[48];

		snprintf(name, sizeof(name), "bench-nginx-%s-%d", what, ninst);
		if (nginx_start(&ng, name, ds, ninst) < 0) {
			printf("bench: nginx did not start\n");
			goto out;
		}
	}
	/* Others' load on the machine skews the figures: show it. */
	if (getloadavg(&load0, 1) < 1)
		load0 = -1;
	/* One warm-up task per instance (page cache of the images). */
	for (int i = 0; i < ninst; i++)
		post_task(ds[i].port, "/tasks.json", tar, NULL, "warm", 1, NULL);
	t0 = harness_now_s();
	for (int i = 0; i < ninst; i++) {
		bc[i] = (struct bench_client){ ng.port, tar, t0 + seconds, 0, 0, 0 };
		pthread_create(&th[i], NULL, bench_client, &bc[i]);
	}
	for (int i = 0; i < ninst; i++) {
		pthread_join(th[i], NULL);
		done += bc[i].done;
		failed += bc[i].failed;
		busy += bc[i].busy;
	}
	el = harness_now_s() - t0;
	if (getloadavg(load, 1) < 1)
		load[0] = -1;
	printf("bench: pool of %d instance%s, %-8s %7.1f tasks/min (%d finished in %.1fs, %d failed, %d busy retries; "
	    "1-min load before %.2f, after %.2f)%s%s\n", ninst, ninst > 1 ? "s" : " ", what, done * 60.0 / el, done, el, failed,
	    busy, load0, load[0], preboot ? ", preboot " : "", preboot ? preboot : "");
	nginx_stop(&ng);
out:
	for (int i = 0; i < ninst; i++)
		harness_daemon_fini(&ds[i]);
}

static void bench_memory(const char *what, const char *tar)
{
	struct harness_daemon d;
	char sbd[4200];
	const char *extra[] = { "--images-dir", abs_build, NULL };
	long idle_rss, rss_max = 0, pss_max = 0;
	int procs_max = 0, cnt;
	double until;
	char body_path[300];

	(void)body_path;
	snprintf(sbd, sizeof(sbd), "%s/sandboxd", abs_build);
	harness_daemon_init(&d, tmp_root, "bench-mem");
	if (harness_daemon_start(&d, sbd, extra) < 0) {
		printf("bench: sandboxd did not start\n");
		return;
	}
	post_task(d.port, "/tasks.json", task_tar("echo", ECHO_TASK), NULL, "warm", 1, NULL);
	usleep(300000);
	idle_rss = tree_kb(d.pid, "status", "VmRSS:", &cnt);
	if (post_task(d.port, "/tasks.json", tar, NULL, "mem", 0, NULL) != 200) {
		printf("bench: memory task not accepted\n");
		harness_daemon_fini(&d);
		return;
	}
	/* Sample the tree until the instance is idle again. */
	for (until = harness_now_s() + 120; harness_now_s() < until; usleep(50000)) {
		char *body = NULL;
		long busy;
		long rss = tree_kb(d.pid, "status", "VmRSS:", &cnt);
		long pss = tree_kb(d.pid, "smaps_rollup", "Pss:", &cnt);

		if (pss > pss_max)
			pss_max = pss, procs_max = cnt;
		if (rss > rss_max)
			rss_max = rss;
		harness_http_get(d.port, "/status.json", &body);
		busy = json_int_field(body, "busy_instances");
		free(body);
		if (busy == 0)
			break;
	}
	printf("bench: memory, %-18s sandboxd idle RSS %.1f MB; running peak: PSS %.1f MB over %d processes "
	    "(sandboxd + UML tree; RSS sum %.1f MB counts guest RAM pages once per process), guest mem= 256 MB\n",
	    what, idle_rss / 1024.0, pss_max / 1024.0, procs_max, rss_max / 1024.0);
	harness_daemon_fini(&d);
}

/* only_preboot: just the 2-instance pool with pre-boot on and off
 * (--bench-preboot), without the 1/2/4-instance rows and memory. */
static void run_bench(int only_preboot)
{
	char hello[4200], java[4200];
	const char *trivial = task_tar("trivial", "#!/bin/sh\necho ok\n");
	const char *hello_tar, *java_tar;

	snprintf(hello, sizeof(hello), "%s/c-hello", exercises_dir);
	hello_tar = dir_tar(hello, "c-hello");
	printf("bench: %ld cores; each client POSTs to the pool with wait=1, one client per instance\n",
	    sysconf(_SC_NPROCESSORS_ONLN));
	for (int n = 1; n <= 4 && !only_preboot; n *= 2)
		bench_throughput(n, "trivial", trivial, 20, NULL);
	for (int n = 1; n <= 4 && !only_preboot; n *= 2)
		bench_throughput(n, "c-hello", hello_tar, 40, NULL);
	/* Issue 10: a 2-instance pool with pre-boot on and off, alternated. */
	snprintf(java, sizeof(java), "%s/java-junit", exercises_dir);
	java_tar = dir_tar(java, "java-junit");
	for (int round = 0; round < 2; round++) {
		bench_throughput(2, "c-hello", hello_tar, 40, "on");
		bench_throughput(2, "c-hello", hello_tar, 40, "off");
		bench_throughput(2, "java", java_tar, 60, "on");
		bench_throughput(2, "java", java_tar, 60, "off");
	}
	if (only_preboot)
		return;
	bench_memory("idle/trivial:", task_tar("sleep3", "#!/bin/sh\nsleep 3\n"));
	bench_memory("c-hello:", hello_tar);
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr, "usage: deploy_test --build DIR --web DIR --stage DIR --prefix P [TEST...]\n"
	    "       deploy_test --bench|--bench-preboot --build DIR --web DIR --exercises DIR\n"
	    "       deploy_test --list\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, bench = 0, a;
	const char *missing = NULL;
	char cmd[200];
	struct sigaction sa = { .sa_handler = on_signal };

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (a = 1; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
		if (strcmp(argv[a], "--list") == 0) {
			for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
				printf("%s\n", tests[i].name);
			return 0;
		} else if (strcmp(argv[a], "--bench") == 0) {
			bench = 1;
		} else if (strcmp(argv[a], "--bench-preboot") == 0) {
			bench = 2;
		} else if (a + 1 < argc && strcmp(argv[a], "--build") == 0) {
			build_dir = argv[++a];
		} else if (a + 1 < argc && strcmp(argv[a], "--web") == 0) {
			web_dir = argv[++a];
		} else if (a + 1 < argc && strcmp(argv[a], "--stage") == 0) {
			stage_dir = argv[++a];
		} else if (a + 1 < argc && strcmp(argv[a], "--prefix") == 0) {
			prefix = argv[++a];
		} else if (a + 1 < argc && strcmp(argv[a], "--exercises") == 0) {
			exercises_dir = argv[++a];
		} else {
			usage();
		}
	}
	if (build_dir == NULL || web_dir == NULL || (bench ? exercises_dir == NULL : stage_dir == NULL || prefix == NULL))
		usage();
	if (geteuid() != 0) {
		printf("deploy_test: needs root: sandboxd confines UML (uid drop, namespaces, cgroup) only as root\n");
		printf("0 passed, 1 failed\n");
		return 1;
	}
	if (!have_tool("nginx"))
		missing = "nginx (Debian package nginx)";
	else if (!have_tool("tar"))
		missing = "tar";
	if (missing != NULL) {
		printf("deploy_test: %s is not installed; run `make deps`\n0 passed, 1 failed\n", missing);
		return 1;
	}
	if (realpath(build_dir, abs_build) == NULL) {
		printf("deploy_test: %s: %s\n0 passed, 1 failed\n", build_dir, strerror(errno));
		return 1;
	}
	{
		static char abs_web[4096];

		if (realpath(web_dir, abs_web) == NULL) {
			printf("deploy_test: %s: %s\n0 passed, 1 failed\n", web_dir, strerror(errno));
			return 1;
		}
		web_dir = abs_web;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm(DEADLINE_S);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/deploy_test.XXXXXX");
	/* The UML user must reach the task dirs below it: 0755. */
	if (mkdtemp(tmp_root) == NULL || chmod(tmp_root, 0755) < 0 || harness_rx_start(0) < 0 || harness_rx.port == 0) {
		perror("deploy_test: setup");
		return 1;
	}
	if (bench) {
		run_bench(bench == 2);
	} else {
		for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
			if (!harness_selected(tests[i].name, argv + a, argc - a))
				continue;
			if (harness_run_test(tests[i].name, tests[i].fn))
				passed++;
			else
				failed++;
		}
	}
	pool_down();
	harness_procs_end();
	harness_rx_stop();
	if (failed == 0 && getenv("DEPLOY_TEST_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
		if (system(cmd) != 0)
			printf("could not remove %s\n", tmp_root);
	} else {
		printf("work dirs, logs and nginx config kept in %s\n", tmp_root);
	}
	curl_global_cleanup();
	if (!bench)
		printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
