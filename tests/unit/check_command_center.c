/* check_command_center.c: the host end of Scout's channel
 * (sandbox/command_center.c): the conversation, its audit, and how it
 * ends on hostile input. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/scout.h"

static struct policy *pol;
static struct command_center *cc;

static void setup(void)
{
	char err[256];

	pol = policy_default("/task", err, sizeof(err));
	ck_assert_ptr_nonnull(pol);
	cc = cc_new(pol, err, sizeof(err));
	ck_assert_ptr_nonnull(cc);
}

static void teardown(void)
{
	cc_free(cc);
	policy_free(pol);
}

static int send_msg(struct channel_msg m)
{
	uint8_t buf[CHANNEL_MAX_FRAME];
	char err[128];
	ssize_t n = channel_encode(&m, buf, sizeof(buf), err, sizeof(err));

	ck_assert_int_gt(n, 0);
	return cc_feed(cc, buf, (size_t)n);
}

static struct channel_msg msg(enum channel_type t, uint32_t id, uint8_t a, const char *text)
{
	struct channel_msg m;

	memset(&m, 0, sizeof(m));
	m.type = t;
	m.id = id;
	m.access = a;
	m.count = 1;
	if (text != NULL)
		strcpy(m.text, text);
	return m;
}

static struct channel_msg *reply(void)
{
	static struct channel_msg m;
	uint8_t buf[64];
	char err[128];
	size_t used, n = cc_take_output(cc, buf, CHANNEL_HEADER);

	ck_assert_uint_eq(n, CHANNEL_HEADER);
	ck_assert_uint_le(buf[4], sizeof(buf) - CHANNEL_HEADER);
	n += cc_take_output(cc, buf + CHANNEL_HEADER, buf[4]);
	ck_assert_int_eq(channel_decode(buf, n, &m, &used, err, sizeof(err)), 1);
	ck_assert_uint_eq(used, n);
	return &m;
}

static json_t *find_file(json_t *files, const char *path, const char *verdict)
{
	size_t i;
	json_t *e;

	json_array_foreach(files, i, e)
		if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "verdict")), verdict) == 0)
			return e;
	return NULL;
}

START_TEST(test_conversation)
{
	json_t *files, *denied, *e;
	struct channel_msg *r;

	ck_assert_int_eq(send_msg(msg(CHANNEL_HELLO, 0, 0, NULL)), 0);
	ck_assert_int_eq(reply()->type, CHANNEL_HELLO_ACK);
	ck_assert_int_eq(send_msg(msg(CHANNEL_ASK, 1, POLICY_READ, "/etc/shadow")), 0);
	r = reply();
	ck_assert_int_eq(r->verdict, POLICY_DENY);
	ck_assert_uint_eq(r->scope, strlen("/etc/shadow"));
	ck_assert_int_eq(send_msg(msg(CHANNEL_ASK, 2, POLICY_WRITE, "/task/out.txt")), 0);
	r = reply();
	ck_assert_uint_eq(r->id, 2);
	ck_assert_uint_eq(r->scope, strlen("/task"));	/* all of the task dir */
	ck_assert_int_eq(send_msg(msg(CHANNEL_ASK, 3, POLICY_WRITE, "/dev/null")), 0);
	r = reply();
	ck_assert_int_eq(r->verdict, POLICY_ALLOW);
	ck_assert_uint_eq(r->scope, 0);		/* dev: that path alone */
	{
		struct channel_msg c = msg(CHANNEL_COUNT, 0, POLICY_WRITE, "/task/out.txt");

		c.count = 41;
		c.verdict = POLICY_ALLOW;
		ck_assert_int_eq(send_msg(c), 0);
	}
	ck_assert_int_eq(send_msg(msg(CHANNEL_DENIED, 0, 0, "mount")), 0);
	ck_assert_int_eq(send_msg(msg(CHANNEL_DENIED, 0, 0, "mount")), 0);
	ck_assert_int_eq(send_msg(msg(CHANNEL_BYE, 0, 0, NULL)), -1);
	ck_assert_ptr_null(cc_error(cc));
	ck_assert(cc_finished(cc));
	files = cc_files_json(cc);
	e = find_file(files, "/task/out.txt", "allow");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "count")), 42);
	ck_assert_str_eq(json_string_value(json_object_get(e, "access")), "write");
	ck_assert_ptr_nonnull(find_file(files, "/etc/shadow", "deny"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(files, 0), "verdict")), "deny");
	denied = cc_denied_json(cc);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(denied, 0), "syscall")), "mount");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(denied, 0), "count")), 2);
	json_decref(files);
	json_decref(denied);
}
END_TEST

START_TEST(test_byte_at_a_time)
{
	uint8_t buf[CHANNEL_MAX_FRAME * 2];
	char err[128];
	struct channel_msg m = msg(CHANNEL_HELLO, 0, 0, NULL);
	size_t n = (size_t)channel_encode(&m, buf, sizeof(buf), err, sizeof(err));

	m = msg(CHANNEL_ASK, 9, POLICY_READ, "/usr/lib/x");
	n += (size_t)channel_encode(&m, buf + n, sizeof(buf) - n, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(cc_feed(cc, buf + i, 1), 0);
	ck_assert_int_eq(reply()->type, CHANNEL_HELLO_ACK);
	ck_assert_int_eq(reply()->verdict, POLICY_ALLOW);
}
END_TEST

/* Each of these ends the conversation with a reason. */
START_TEST(test_protocol_violations)
{
	struct channel_msg lie = msg(CHANNEL_COUNT, 0, POLICY_READ, "/etc/shadow");

	lie.verdict = POLICY_ALLOW;
	switch (_i) {
	case 0:	/* no HELLO first */
		ck_assert_int_eq(send_msg(msg(CHANNEL_ASK, 1, POLICY_READ, "/usr")), -1);
		break;
	case 1:	/* a second HELLO */
		send_msg(msg(CHANNEL_HELLO, 0, 0, NULL));
		ck_assert_int_eq(send_msg(msg(CHANNEL_HELLO, 0, 0, NULL)), -1);
		break;
	case 2:	/* a host-to-guest frame from the guest */
		send_msg(msg(CHANNEL_HELLO, 0, 0, NULL));
		ck_assert_int_eq(send_msg(msg(CHANNEL_VERDICT, 1, 0, NULL)), -1);
		break;
	case 3:	/* a COUNT claiming an allow the policy denies */
		send_msg(msg(CHANNEL_HELLO, 0, 0, NULL));
		ck_assert_int_eq(send_msg(lie), -1);
		break;
	case 4:	/* garbage */
		ck_assert_int_eq(cc_feed(cc, (const uint8_t *)"GET / HTTP/1.0\r\n", 16), -1);
		break;
	case 5:	/* bytes after BYE */
		send_msg(msg(CHANNEL_HELLO, 0, 0, NULL));
		ck_assert_int_eq(cc_feed(cc, (const uint8_t *)"SC\1\7\0\0\0\0SC", 10), -1);
		break;
	}
	ck_assert_ptr_nonnull(cc_error(cc));
	ck_assert(cc_finished(cc));
	ck_assert_int_eq(cc_feed(cc, (const uint8_t *)"S", 1), -1);
}
END_TEST

/* A guest that floods distinct paths gets a bounded audit. */
START_TEST(test_audit_bounded)
{
	char p[64];
	json_t *files;
	json_t *last;

	send_msg(msg(CHANNEL_HELLO, 0, 0, NULL));
	for (int i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "/secret/%d", i);
		ck_assert_int_eq(send_msg(msg(CHANNEL_ASK, (uint32_t)i, POLICY_READ, p)), 0);
		reply();
	}
	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof(p), "s%d", i);
		send_msg(msg(CHANNEL_DENIED, 0, 0, p));
	}
	files = cc_files_json(cc);
	ck_assert_uint_le(json_array_size(files), 257);
	last = json_array_get(files, json_array_size(files) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(last, "path")), "(more)");
	ck_assert_int_eq(json_integer_value(json_object_get(last, "count")), 2000 - 256);
	json_decref(files);
	files = cc_denied_json(cc);
	ck_assert_uint_le(json_array_size(files), 65);
	json_decref(files);
}
END_TEST

/* Paths are bytes; the audit stays valid UTF-8 JSON. */
START_TEST(test_audit_escapes)
{
	json_t *files;
	char *dump;

	cc_decide(cc, "/task/\xff\x01\\x", POLICY_READ);
	files = cc_files_json(cc);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(files, 0), "path")),
	    "/task/\\xff\\x01\\x5cx");
	dump = json_dumps(files, 0);
	ck_assert_ptr_nonnull(dump);
	free(dump);
	json_decref(files);
}
END_TEST

/* Over real fds: EOF before BYE is an error, and answers are written. */
START_TEST(test_fds)
{
	int in[2], out[2];
	uint8_t buf[64];
	char err[128];
	struct channel_msg m = msg(CHANNEL_HELLO, 0, 0, NULL);
	ssize_t n = channel_encode(&m, buf, sizeof(buf), err, sizeof(err));

	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe2(out, O_NONBLOCK), 0);
	ck_assert_int_eq(write(in[1], buf, (size_t)n), n);
	ck_assert_int_eq(cc_on_readable(cc, in[0], out[1]), 0);
	ck_assert_int_eq(cc_want_write(cc), 0);
	ck_assert_int_eq(read(out[0], buf, sizeof(buf)), CHANNEL_HEADER);
	close(in[1]);
	ck_assert_int_eq(cc_on_readable(cc, in[0], out[1]), -1);
	ck_assert_str_eq(cc_error(cc), "channel closed without BYE");
	close(in[0]);
	close(out[0]);
	close(out[1]);
}
END_TEST

static Suite *cc_suite(void)
{
	Suite *s = suite_create("command_center");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_conversation);
	tcase_add_test(tc, test_byte_at_a_time);
	tcase_add_loop_test(tc, test_protocol_violations, 0, 6);
	tcase_add_test(tc, test_audit_bounded);
	tcase_add_test(tc, test_audit_escapes);
	tcase_add_test(tc, test_fds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
