/* check_notify.c: the notifier (server/notify.c): URL checks, backoff, form
 * encoding, one POST against a real local receiver per answer class, and
 * the delivery thread retrying a spooled result until a 2xx. */
#define _GNU_SOURCE
#include <check.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "server/sandboxd.h"

static const struct {
	const char *url;
	int ok;
} urls[] = {
	{ "http://127.0.0.1:8080/notify", 1 }, { "https://tmc.example.org/results?x=1", 1 },
	{ "HTTP://HOST/", 1 }, { "ftp://host/x", 0 }, { "file:///etc/passwd", 0 }, { "javascript:alert(1)", 0 },
	{ "http://", 0 }, { "", 0 }, { "http://host/a b", 0 }, { "http://host/\xc3\xa4", 0 }, { "host/x", 0 },
	{ "gopher://h/", 0 },
};

START_TEST(test_url)
{
	char err[256] = "";

	ck_assert_msg((notify_url_check(urls[_i].url, err, sizeof(err)) >= 0) == urls[_i].ok, "%s: %s",
	    urls[_i].url, err);
}
END_TEST

/* Where a notification may go (issue 9, SSRF): the built-in denied ranges
 * in every spelling curl accepts, the operator's lists by address and by
 * name, and names judged by what they resolve to (only `localhost`, which
 * /etc/hosts answers: no DNS traffic leaves the machine). */
static const struct {
	const char *allow, *deny, *url;
	const char *why;	/* NULL: allowed; else a substring of the refusal */
} acls[] = {
	{ NULL, NULL, "http://169.254.169.254/latest/meta-data/", "link-local" },
	{ NULL, NULL, "http://0xa9fea9fe/latest/", "link-local" },
	{ NULL, NULL, "http://2852039166/", "link-local" },
	{ NULL, NULL, "http://[::ffff:169.254.169.254]/", "link-local" },
	{ NULL, NULL, "http://[fe80::1]:8080/", "link-local" },
	{ NULL, NULL, "http://[fd00:ec2::254]/", "metadata" },
	{ NULL, NULL, "http://100.100.100.200/", "metadata" },
	{ NULL, NULL, "http://239.1.2.3/", "multicast" },
	{ NULL, NULL, "http://[ff02::1]/", "multicast" },
	{ NULL, NULL, "http://0.0.0.0:8080/", "unspecified" },
	{ NULL, NULL, "http://0/", "unspecified" },
	{ NULL, NULL, "http://[::]/", "unspecified" },
	{ NULL, NULL, "http://255.255.255.255/", "broadcast" },
	{ NULL, NULL, "http://127.0.0.1:8080/notify", NULL },
	{ NULL, NULL, "http://0x7f000001:8080/", NULL },
	{ NULL, NULL, "http://[::1]:8080/", NULL },
	{ NULL, NULL, "http://localhost:8080/", NULL },
	{ NULL, NULL, "http://10.1.2.3/", NULL },
	{ NULL, "127.0.0.0/8,::1", "http://0x7f000001:8080/", "notify-deny" },
	{ NULL, "127.0.0.0/8,::1", "http://127.1/", "notify-deny" },
	{ NULL, "127.0.0.0/8,::1", "http://[::1]/", "notify-deny" },
	{ NULL, "127.0.0.0/8,::1", "http://[::ffff:127.0.0.1]/", "notify-deny" },
	{ NULL, "127.0.0.0/8,::1", "http://localhost:8080/", "notify-deny" },
	{ NULL, "localhost", "http://LocalHost.:8080/", "notify-deny" },
	{ NULL, "10.0.0.0/8", "http://10.1.2.3/", "notify-deny" },
	{ NULL, "10.0.0.0/8", "http://11.1.2.3/", NULL },
	{ "10.0.0.0/8", NULL, "http://127.0.0.1/", "not in notify-allow" },
	{ "10.0.0.0/8", NULL, "http://10.200.0.1/", NULL },
	{ "localhost", NULL, "http://localhost:1234/", NULL },
	{ "localhost", NULL, "http://127.0.0.1:1234/", "not in notify-allow" },
	{ "*.example.org", NULL, "http://127.0.0.1/", "not in notify-allow" },
	{ "169.254.0.0/16", NULL, "http://169.254.169.254/", "link-local" },
	{ "localhost", "localhost", "http://localhost/", "notify-deny" },
};

START_TEST(test_acl)
{
	char err[256] = "";
	int rc;

	ck_assert_int_eq(notify_policy_set(acls[_i].allow, acls[_i].deny, err, sizeof(err)), 0);
	rc = notify_url_resolve_check(acls[_i].url, err, sizeof(err));
	if (acls[_i].why == NULL) {
		ck_assert_msg(rc == 0, "%s refused: %s", acls[_i].url, err);
	} else {
		ck_assert_msg(rc < 0, "%s allowed", acls[_i].url);
		ck_assert_msg(strstr(err, acls[_i].why) != NULL, "%s: '%s' lacks '%s'", acls[_i].url, err,
		    acls[_i].why);
	}
	ck_assert_int_eq(notify_policy_set(NULL, NULL, err, sizeof(err)), 0);
}
END_TEST

static const struct {
	unsigned attempt;
	double rand01, want;
} backoffs[] = {
	{ 1, 0, 0.5 }, { 1, 1, 1 }, { 2, 0, 1 }, { 3, 0.5, 3 }, { 4, 1, 8 },
	{ 10, 0, 30 }, { 10, 1, 60 }, { 200, 1, 60 },
};

START_TEST(test_backoff)
{
	ck_assert_double_eq_tol(notify_backoff(backoffs[_i].attempt, 1, 60, backoffs[_i].rand01),
	    backoffs[_i].want, 1e-9);
}
END_TEST

START_TEST(test_form_roundtrip)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:{s:f}}", "token", "a b&c=d%", "status", "finished",
	    "stdout", "line1\nline2 \xc3\xa4+", "n", 7, "time", "run", 1.5);
	char *form = notify_encode_form(p);
	CURL *c = curl_easy_init();
	char *save = NULL;
	int seen = 0;

	ck_assert_ptr_nonnull(form);
	for (char *kv = strtok_r(form, "&", &save); kv != NULL; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		char *k, *v;
		int vlen;

		ck_assert_ptr_nonnull(eq);
		*eq = '\0';
		k = curl_easy_unescape(c, kv, 0, NULL);
		v = curl_easy_unescape(c, eq + 1, 0, &vlen);
		if (strcmp(k, "token") == 0 && strcmp(v, "a b&c=d%") == 0)
			seen |= 1;
		if (strcmp(k, "stdout") == 0 && strcmp(v, "line1\nline2 \xc3\xa4+") == 0)
			seen |= 2;
		if (strcmp(k, "n") == 0 && strcmp(v, "7") == 0)
			seen |= 4;
		if (strcmp(k, "time") == 0 && strstr(v, "\"run\"") != NULL)
			seen |= 8;
		curl_free(k);
		curl_free(v);
	}
	ck_assert_int_eq(seen, 15);
	curl_easy_cleanup(c);
	free(form);
	json_decref(p);
}
END_TEST

/* The receiver answers the codes in `script`, then 200. */
static struct MHD_Daemon *rx;
static unsigned rx_port;
static int script[8], nscript, posts;
static char last_ctype[128];

static enum MHD_Result rx_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *data, size_t *size, void **con_cls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *ct;
	int code = 200;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)data;
	if (*con_cls == NULL) {
		*con_cls = (void *)1;
		return MHD_YES;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	snprintf(last_ctype, sizeof(last_ctype), "%s", ct ? ct : "");
	if (posts < nscript)
		code = script[posts];
	posts++;
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, (unsigned)code, r);
	MHD_destroy_response(r);
	return ret;
}

static void rx_up(void)
{
	rx = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, rx_handler, NULL,
	    MHD_OPTION_END);
	ck_assert_ptr_nonnull(rx);
	rx_port = MHD_get_daemon_info(rx, MHD_DAEMON_INFO_BIND_PORT)->port;
	posts = nscript = 0;
}

static void rx_down(void)
{
	MHD_stop_daemon(rx);
}

static const struct {
	int code;
	enum notify_outcome want;
} answers[] = {
	{ 200, NOTIFY_DELIVERED }, { 204, NOTIFY_DELIVERED }, { 500, NOTIFY_RETRY }, { 503, NOTIFY_RETRY },
	{ 429, NOTIFY_RETRY }, { 408, NOTIFY_RETRY }, { 404, NOTIFY_PERMANENT }, { 400, NOTIFY_PERMANENT },
	{ 301, NOTIFY_PERMANENT },
};

START_TEST(test_post_answers)
{
	char url[64], err[256];
	long code;
	json_t *p = json_pack("{s:s}", "status", "finished");

	script[0] = answers[_i].code;
	nscript = 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/n", rx_port);
	ck_assert_int_eq(notify_post(url, _i % 2 ? NOTIFY_FORM : NOTIFY_JSON, p, 5, &code, err, sizeof(err)),
	    answers[_i].want);
	ck_assert_int_eq(code, answers[_i].code);
	ck_assert_str_eq(last_ctype, _i % 2 ? "application/x-www-form-urlencoded" : "application/json");
	json_decref(p);
}
END_TEST

START_TEST(test_post_refused)
{
	char err[256];
	long code;
	json_t *p = json_pack("{s:s}", "status", "finished");

	/* Port 1 on loopback: nothing listens there. */
	ck_assert_int_eq(notify_post("http://127.0.0.1:1/n", NOTIFY_JSON, p, 2, &code, err, sizeof(err)),
	    NOTIFY_RETRY);
	ck_assert(err[0] != '\0');
	json_decref(p);
}
END_TEST

/* The check holds at delivery too, not only at intake: a spooled URL
 * whose host is now denied (by address or by what its name resolves to)
 * is not posted to, and retrying cannot help. */
START_TEST(test_post_denied)
{
	char url[64], err[256];
	long code;
	json_t *p = json_pack("{s:s}", "status", "finished");

	ck_assert_int_eq(notify_policy_set(NULL, "127.0.0.0/8,::1", err, sizeof(err)), 0);
	snprintf(url, sizeof(url), "http://localhost:%u/n", rx_port);
	ck_assert_int_eq(notify_post(url, NOTIFY_JSON, p, 5, &code, err, sizeof(err)), NOTIFY_PERMANENT);
	ck_assert_msg(strstr(err, "notify-deny") != NULL, "%s", err);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/n", rx_port);
	ck_assert_int_eq(notify_post(url, NOTIFY_JSON, p, 5, &code, err, sizeof(err)), NOTIFY_PERMANENT);
	ck_assert_int_eq(posts, 0);
	ck_assert_int_eq(notify_policy_set(NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(notify_post(url, NOTIFY_JSON, p, 5, &code, err, sizeof(err)), NOTIFY_DELIVERED);
	ck_assert_int_eq(posts, 1);
	json_decref(p);
}
END_TEST

/* A tar pit: accepts every connection and never answers; counts them. */
static int pit_fd = -1, pit_conns;
static unsigned pit_port;

static void *pit_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(pit_fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		__atomic_add_fetch(&pit_conns, 1, __ATOMIC_SEQ_CST);	/* held open until exit */
	}
}

static void pit_up(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	pthread_t th;

	pit_fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(pit_fd, 0);
	ck_assert_int_eq(bind(pit_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(pit_fd, 64), 0);
	ck_assert_int_eq(getsockname(pit_fd, (struct sockaddr *)&a, &len), 0);
	pit_port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&th, NULL, pit_main, NULL), 0);
	pthread_detach(th);
}

/*
 * Issue 9, finding 3: six results queued for a receiver that never
 * answers, then one for an honest receiver. The honest one is delivered
 * at once (the old single delivery thread made it wait 6 x the attempt
 * timeout), and the tar pit holds one worker: one connection at a time.
 */
START_TEST(test_tar_pit_holds_one_worker)
{
	char dir[] = "/tmp/check_notify.XXXXXX", url[64], err[256], cmd[128], id[32];
	struct config cfg;
	json_t *p = json_pack("{s:s, s:s}", "status", "finished", "token", "x");
	double t0, until, took = -1;
	int conns_then;

	pit_up();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_init(dir, err, sizeof(err)), 0);
	config_defaults(&cfg);
	cfg.notify_timeout = 4;
	cfg.retry_initial = 0.05;
	cfg.retry_max = 0.2;
	status_init();
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/pit", pit_port);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "t1-pit%d", i);
		ck_assert_int_eq(spool_put_result(id, url, p, err, sizeof(err)), 0);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/honest", rx_port);
	ck_assert_int_eq(spool_put_result("t1-honest", url, p, err, sizeof(err)), 0);
	ck_assert_int_eq(notify_start(&cfg), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "t1-pit%d", i);
		notify_enqueue(id);
		usleep(1000);
	}
	t0 = mono_now();
	notify_enqueue("t1-honest");
	until = t0 + 3;
	while (mono_now() < until) {
		if (__atomic_load_n(&posts, __ATOMIC_SEQ_CST) > 0) {
			took = mono_now() - t0;
			break;
		}
		usleep(5000);
	}
	usleep(300000);	/* room for a second worker to (wrongly) join the pit */
	conns_then = __atomic_load_n(&pit_conns, __ATOMIC_SEQ_CST);
	notify_stop();
	ck_assert_msg(took >= 0 && took < 2.0, "honest result delivered after %.3fs (-1: not within 3 s)", took);
	ck_assert_msg(conns_then == 1, "%d connections to the tar pit at once", conns_then);
	ck_assert_uint_eq(spool_pending(), 6);	/* the tar pit's results wait, spooled */
	spool_fini();
	config_free(&cfg);
	json_decref(p);
	close(pit_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_thread_retries_until_2xx)
{
	char dir[] = "/tmp/check_notify.XXXXXX", url[64], err[256], cmd[128];
	struct config cfg;
	json_t *p = json_pack("{s:s, s:s}", "status", "finished", "token", "x");
	double until;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_init(dir, err, sizeof(err)), 0);
	config_defaults(&cfg);
	cfg.retry_initial = 0.05;
	cfg.retry_max = 0.2;
	status_init();
	script[0] = 500;
	script[1] = 429;
	script[2] = 502;
	nscript = 3;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/n", rx_port);
	ck_assert_int_eq(spool_put_result("t1-x", url, p, err, sizeof(err)), 0);
	ck_assert_int_eq(notify_start(&cfg), 0);
	notify_enqueue("t1-x");
	until = mono_now() + 10;
	while (spool_pending() > 0 && mono_now() < until)
		usleep(20000);
	notify_stop();
	ck_assert_uint_eq(spool_pending(), 0);
	ck_assert_int_eq(posts, 4);
	spool_fini();
	config_free(&cfg);
	json_decref(p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *pure = tcase_create("pure"), *net = tcase_create("receiver");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tcase_add_loop_test(pure, test_url, 0, (int)(sizeof(urls) / sizeof(urls[0])));
	tcase_add_loop_test(pure, test_backoff, 0, (int)(sizeof(backoffs) / sizeof(backoffs[0])));
	tcase_add_test(pure, test_form_roundtrip);
	tcase_add_loop_test(pure, test_acl, 0, (int)(sizeof(acls) / sizeof(acls[0])));
	tcase_add_checked_fixture(net, rx_up, rx_down);
	tcase_add_loop_test(net, test_post_answers, 0, (int)(sizeof(answers) / sizeof(answers[0])));
	tcase_add_test(net, test_post_refused);
	tcase_add_test(net, test_thread_retries_until_2xx);
	tcase_add_test(net, test_post_denied);
	tcase_add_test(net, test_tar_pit_holds_one_worker);
	tcase_set_timeout(net, 30);
	suite_add_tcase(s, pure);
	suite_add_tcase(s, net);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
