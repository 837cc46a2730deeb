/*
 * channel.c: the frames Scout's Carrier (guest) and the Command Center
 * (host) exchange over the serial line /dev/ttyS1.
 * Owns: encoding and decoding one frame; every length and field checked.
 * Never: reads or writes fds, allocates, logs. A frame that fails any check
 * is malformed and the caller ends the conversation (the guest then fails
 * closed with EACCES; the host reports the channel broken).
 *
 * Frame: 'S' 'C' version(1) type(1) len(4, little-endian) payload[len],
 * len <= CHANNEL_MAX_PAYLOAD. Integers in payloads are little-endian.
 * Text fields (paths, syscall names) fill the rest of the payload, without
 * a NUL; a path is 1..CHANNEL_MAX_TEXT bytes, starts with '/', has no NUL;
 * a syscall name is 1..CHANNEL_MAX_NAME bytes of [a-z0-9_].
 */
#include "sandbox/scout.h"
#include "common/log.h"

#include <string.h>

const char *channel_type_name(enum channel_type t)
{
	switch (t) {
	case CHANNEL_HELLO:
		return "HELLO";
	case CHANNEL_HELLO_ACK:
		return "HELLO_ACK";
	case CHANNEL_ASK:
		return "ASK";
	case CHANNEL_VERDICT:
		return "VERDICT";
	case CHANNEL_COUNT:
		return "COUNT";
	case CHANNEL_DENIED:
		return "DENIED";
	case CHANNEL_BYE:
		return "BYE";
	}
	return "?";
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int path_ok(const char *s, size_t len)
{
	return len >= 1 && len <= CHANNEL_MAX_TEXT && s[0] == '/' && memchr(s, '\0', len) == NULL;
}

static int name_ok(const char *s, size_t len)
{
	if (len < 1 || len > CHANNEL_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int access_ok(uint8_t a)
{
	return a >= 1 && a <= POLICY_ACCESS_MAX;
}

static int verdict_ok(uint8_t v)
{
	return v == POLICY_DENY || v == POLICY_ALLOW;
}

ssize_t channel_encode(const struct channel_msg *m, uint8_t *buf, size_t cap,
    char *err, size_t errlen)
{
	uint8_t *p = buf + CHANNEL_HEADER;
	size_t tlen = 0, len = 0;

	if (m->type == CHANNEL_ASK || m->type == CHANNEL_COUNT || m->type == CHANNEL_DENIED)
		tlen = strnlen(m->text, sizeof(m->text));
	switch (m->type) {
	case CHANNEL_HELLO:
	case CHANNEL_HELLO_ACK:
	case CHANNEL_BYE:
		break;
	case CHANNEL_ASK:
		if (!access_ok(m->access) || !path_ok(m->text, tlen))
			return errbuf_set(err, errlen, "ASK: bad access or path");
		len = 5 + tlen;
		break;
	case CHANNEL_VERDICT:
		if (!verdict_ok(m->verdict) || m->scope > CHANNEL_MAX_TEXT)
			return errbuf_set(err, errlen, "VERDICT: bad verdict or scope");
		len = 7;
		break;
	case CHANNEL_COUNT:
		if (!access_ok(m->access) || !verdict_ok(m->verdict) || !path_ok(m->text, tlen) ||
		    m->count == 0)
			return errbuf_set(err, errlen, "COUNT: bad field");
		len = 6 + tlen;
		break;
	case CHANNEL_DENIED:
		if (!name_ok(m->text, tlen) || m->count == 0)
			return errbuf_set(err, errlen, "DENIED: bad name or count");
		len = 4 + tlen;
		break;
	default:
		return errbuf_set(err, errlen, "unknown frame type %d", (int)m->type);
	}
	if (cap < CHANNEL_HEADER + len)
		return errbuf_set(err, errlen, "frame buffer too small");
	buf[0] = 'S';
	buf[1] = 'C';
	buf[2] = CHANNEL_VERSION;
	buf[3] = (uint8_t)m->type;
	put_u32(buf + 4, (uint32_t)len);
	switch (m->type) {
	case CHANNEL_ASK:
		put_u32(p, m->id);
		p[4] = m->access;
		memcpy(p + 5, m->text, tlen);
		break;
	case CHANNEL_VERDICT:
		put_u32(p, m->id);
		p[4] = m->verdict;
		p[5] = (uint8_t)m->scope;
		p[6] = (uint8_t)(m->scope >> 8);
		break;
	case CHANNEL_COUNT:
		put_u32(p, m->count);
		p[4] = m->access;
		p[5] = m->verdict;
		memcpy(p + 6, m->text, tlen);
		break;
	case CHANNEL_DENIED:
		put_u32(p, m->count);
		memcpy(p + 4, m->text, tlen);
		break;
	default:
		break;
	}
	return (ssize_t)(CHANNEL_HEADER + len);
}

int channel_decode(const uint8_t *buf, size_t len, struct channel_msg *m, size_t *used,
    char *err, size_t errlen)
{
	const uint8_t *p = buf + CHANNEL_HEADER;
	uint32_t plen;
	size_t tlen;

	/* Check what is there as early as possible: garbage ends it at byte 1. */
	if (len >= 1 && buf[0] != 'S')
		return errbuf_set(err, errlen, "bad magic");
	if (len >= 2 && buf[1] != 'C')
		return errbuf_set(err, errlen, "bad magic");
	if (len >= 3 && buf[2] != CHANNEL_VERSION)
		return errbuf_set(err, errlen, "unsupported version %u", buf[2]);
	if (len < CHANNEL_HEADER)
		return 0;
	plen = get_u32(buf + 4);
	if (plen > CHANNEL_MAX_PAYLOAD)
		return errbuf_set(err, errlen, "payload length %u over %d", plen, CHANNEL_MAX_PAYLOAD);
	/* Fixed-size frames are checked before waiting for their payload. */
	switch (buf[3]) {
	case CHANNEL_HELLO:
	case CHANNEL_HELLO_ACK:
	case CHANNEL_BYE:
		if (plen != 0)
			return errbuf_set(err, errlen, "%s with a payload", channel_type_name(buf[3]));
		break;
	case CHANNEL_VERDICT:
		if (plen != 7)
			return errbuf_set(err, errlen, "VERDICT of length %u", plen);
		break;
	case CHANNEL_ASK:
		if (plen < 6)
			return errbuf_set(err, errlen, "ASK of length %u", plen);
		break;
	case CHANNEL_COUNT:
		if (plen < 7)
			return errbuf_set(err, errlen, "COUNT of length %u", plen);
		break;
	case CHANNEL_DENIED:
		if (plen < 5 || plen > 4 + CHANNEL_MAX_NAME)
			return errbuf_set(err, errlen, "DENIED of length %u", plen);
		break;
	default:
		return errbuf_set(err, errlen, "unknown frame type %u", buf[3]);
	}
	if (len - CHANNEL_HEADER < plen)
		return 0;
	memset(m, 0, sizeof(*m));
	m->type = (enum channel_type)buf[3];
	switch (m->type) {
	case CHANNEL_ASK:
		m->id = get_u32(p);
		m->access = p[4];
		tlen = plen - 5;
		if (tlen > CHANNEL_MAX_TEXT)
			return errbuf_set(err, errlen, "ASK: path too long");
		memcpy(m->text, p + 5, tlen);
		if (!access_ok(m->access) || !path_ok(m->text, tlen))
			return errbuf_set(err, errlen, "ASK: bad access or path");
		break;
	case CHANNEL_VERDICT:
		m->id = get_u32(p);
		m->verdict = p[4];
		m->scope = (uint16_t)(p[5] | p[6] << 8);
		if (!verdict_ok(m->verdict))
			return errbuf_set(err, errlen, "VERDICT: bad verdict %u", m->verdict);
		if (m->scope > CHANNEL_MAX_TEXT)
			return errbuf_set(err, errlen, "VERDICT: scope %u", m->scope);
		break;
	case CHANNEL_COUNT:
		m->count = get_u32(p);
		m->access = p[4];
		m->verdict = p[5];
		tlen = plen - 6;
		if (tlen > CHANNEL_MAX_TEXT)
			return errbuf_set(err, errlen, "COUNT: path too long");
		memcpy(m->text, p + 6, tlen);
		if (m->count == 0 || !access_ok(m->access) || !verdict_ok(m->verdict) ||
		    !path_ok(m->text, tlen))
			return errbuf_set(err, errlen, "COUNT: bad field");
		break;
	case CHANNEL_DENIED:
		m->count = get_u32(p);
		tlen = plen - 4;
		memcpy(m->text, p + 4, tlen);
		if (m->count == 0 || !name_ok(m->text, tlen))
			return errbuf_set(err, errlen, "DENIED: bad name or count");
		break;
	default:
		break;
	}
	*used = CHANNEL_HEADER + plen;
	return 1;
}
