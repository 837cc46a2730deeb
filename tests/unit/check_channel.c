/* check_channel.c: Scout's frame format (sandbox/channel.c): round trips,
 * and every way a hostile frame can be wrong. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/scout.h"

static struct channel_msg mk(enum channel_type t, uint32_t id, uint32_t count, uint8_t a,
    uint8_t v, const char *text)
{
	struct channel_msg m;

	memset(&m, 0, sizeof(m));
	if (t == CHANNEL_VERDICT)
		m.scope = (uint16_t)(id == 0xfffffffe ? CHANNEL_MAX_TEXT : id);
	m.type = t;
	m.id = id;
	m.count = count;
	m.access = a;
	m.verdict = v;
	if (text != NULL)
		strcpy(m.text, text);
	return m;
}

START_TEST(test_round_trip)
{
	struct channel_msg in[] = {
		mk(CHANNEL_HELLO, 0, 0, 0, 0, NULL),
		mk(CHANNEL_HELLO_ACK, 0, 0, 0, 0, NULL),
		mk(CHANNEL_ASK, 7, 0, POLICY_WRITE, 0, "/task/a b\xff"),
		mk(CHANNEL_VERDICT, 0xfffffffe, 0, 0, POLICY_ALLOW, NULL),
		mk(CHANNEL_VERDICT, 0, 0, 0, POLICY_DENY, NULL),
		mk(CHANNEL_VERDICT, 300, 0, 0, POLICY_ALLOW, NULL),
		mk(CHANNEL_COUNT, 0, 12345, POLICY_EXEC, POLICY_DENY, "/x"),
		mk(CHANNEL_DENIED, 0, 3, 0, 0, "process_vm_readv"),
		mk(CHANNEL_BYE, 0, 0, 0, 0, NULL),
	};
	uint8_t buf[CHANNEL_MAX_FRAME];
	struct channel_msg *out = malloc(sizeof(*out));
	char err[128];
	size_t used;
	ssize_t n = channel_encode(&in[_i], buf, sizeof(buf), err, sizeof(err));

	ck_assert_msg(n >= CHANNEL_HEADER, "%s", err);
	/* Every proper prefix asks for more, never fails. */
	for (ssize_t k = 0; k < n; k++)
		ck_assert_int_eq(channel_decode(buf, (size_t)k, out, &used, err, sizeof(err)), 0);
	ck_assert_int_eq(channel_decode(buf, (size_t)n, out, &used, err, sizeof(err)), 1);
	ck_assert_uint_eq(used, (size_t)n);
	ck_assert_int_eq(out->type, in[_i].type);
	ck_assert_uint_eq(out->id, in[_i].id);
	ck_assert_uint_eq(out->count, in[_i].count);
	ck_assert_uint_eq(out->access, in[_i].access);
	ck_assert_uint_eq(out->verdict, in[_i].verdict);
	ck_assert_uint_eq(out->scope, in[_i].scope);
	ck_assert_str_eq(out->text, in[_i].text);
	free(out);
}
END_TEST

START_TEST(test_longest_path)
{
	struct channel_msg *m = calloc(1, sizeof(*m)), *out = calloc(1, sizeof(*out));
	uint8_t buf[CHANNEL_MAX_FRAME];
	char err[128];
	size_t used;
	ssize_t n;

	m->type = CHANNEL_ASK;
	m->access = POLICY_READ;
	memset(m->text, 'a', CHANNEL_MAX_TEXT);
	m->text[0] = '/';
	n = channel_encode(m, buf, sizeof(buf), err, sizeof(err));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(channel_decode(buf, (size_t)n, out, &used, err, sizeof(err)), 1);
	ck_assert_uint_eq(strlen(out->text), CHANNEL_MAX_TEXT);
	/* One byte more than a path may hold, header length patched. */
	buf[4] = (uint8_t)(n - CHANNEL_HEADER + 1);
	buf[5] = (uint8_t)((n - CHANNEL_HEADER + 1) >> 8);
	buf[n] = 'a';
	ck_assert_int_eq(channel_decode(buf, (size_t)n + 1, out, &used, err, sizeof(err)), -1);
	free(m);
	free(out);
}
END_TEST

/* Hostile frames: each must be refused (-1), not waited on. */
#define V CHANNEL_VERSION
static const struct {
	const char *name;
	size_t len;
	const uint8_t bytes[24];
} bad[] = {
	{ "magic", 1, { 'X' } },
	{ "magic2", 2, { 'S', 'X' } },
	{ "version 1", 3, { 'S', 'C', 1 } },
	{ "version 3", 3, { 'S', 'C', 3 } },
	{ "type 0", 8, { 'S', 'C', V, 0, 0, 0, 0, 0 } },
	{ "type 99", 8, { 'S', 'C', V, 99, 0, 0, 0, 0 } },
	{ "huge length", 8, { 'S', 'C', V, CHANNEL_ASK, 0xff, 0xff, 0xff, 0xff } },
	{ "HELLO payload", 8, { 'S', 'C', V, CHANNEL_HELLO, 1, 0, 0, 0 } },
	{ "VERDICT short", 8, { 'S', 'C', V, CHANNEL_VERDICT, 4, 0, 0, 0 } },
	{ "ASK empty path", 8, { 'S', 'C', V, CHANNEL_ASK, 5, 0, 0, 0 } },
	{ "ASK relative", 14, { 'S', 'C', V, CHANNEL_ASK, 6, 0, 0, 0, 1, 0, 0, 0, 1, 'a' } },
	{ "ASK NUL", 15, { 'S', 'C', V, CHANNEL_ASK, 7, 0, 0, 0, 1, 0, 0, 0, 1, '/', 0 } },
	{ "ASK access 0", 14, { 'S', 'C', V, CHANNEL_ASK, 6, 0, 0, 0, 1, 0, 0, 0, 0, '/' } },
	{ "ASK access 9", 14, { 'S', 'C', V, CHANNEL_ASK, 6, 0, 0, 0, 1, 0, 0, 0, 9, '/' } },
	{ "VERDICT old length", 13, { 'S', 'C', V, CHANNEL_VERDICT, 5, 0, 0, 0, 1, 0, 0, 0, 1 } },
	{ "VERDICT 2", 15, { 'S', 'C', V, CHANNEL_VERDICT, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0 } },
	{ "VERDICT scope", 15, { 'S', 'C', V, CHANNEL_VERDICT, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x10 } },
	{ "COUNT 0", 15, { 'S', 'C', V, CHANNEL_COUNT, 7, 0, 0, 0, 0, 0, 0, 0, 1, 1, '/' } },
	{ "DENIED bad name", 13, { 'S', 'C', V, CHANNEL_DENIED, 5, 0, 0, 0, 1, 0, 0, 0, 'A' } },
	{ "DENIED long", 8, { 'S', 'C', V, CHANNEL_DENIED, 40, 0, 0, 0 } },
};

START_TEST(test_hostile)
{
	struct channel_msg *m = malloc(sizeof(*m));
	char err[128] = "";
	size_t used;

	ck_assert_msg(channel_decode(bad[_i].bytes, bad[_i].len, m, &used, err, sizeof(err)) == -1,
	    "accepted: %s", bad[_i].name);
	ck_assert(err[0] != '\0');
	free(m);
}
END_TEST

START_TEST(test_encode_refuses)
{
	struct channel_msg m = mk(CHANNEL_ASK, 1, 0, POLICY_READ, 0, "relative");
	uint8_t buf[16];
	char err[128];

	ck_assert_int_eq(channel_encode(&m, buf, sizeof(buf), err, sizeof(err)), -1);
	m = mk(CHANNEL_ASK, 1, 0, POLICY_READ, 0, "/a/long/path");
	ck_assert_int_eq(channel_encode(&m, buf, sizeof(buf), err, sizeof(err)), -1);	/* too small */
	m = mk(CHANNEL_DENIED, 0, 0, 0, 0, "mount");
	ck_assert_int_eq(channel_encode(&m, buf, sizeof(buf), err, sizeof(err)), -1);	/* count 0 */
	m = mk(CHANNEL_VERDICT, 1, 0, 0, POLICY_ALLOW, NULL);
	m.scope = CHANNEL_MAX_TEXT + 1;
	ck_assert_int_eq(channel_encode(&m, buf, sizeof(buf), err, sizeof(err)), -1);	/* scope */
}
END_TEST

static Suite *channel_suite(void)
{
	Suite *s = suite_create("channel");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_round_trip, 0, 9);
	tcase_add_test(tc, test_longest_path);
	tcase_add_loop_test(tc, test_hostile, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_encode_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(channel_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
