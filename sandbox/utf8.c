/*
 * utf8.c: makes untrusted bytes (guest files, console output) safe to put
 * in a JSON string.
 * Owns: the one rule for bad bytes: every ill-formed sequence becomes
 * U+FFFD (one per maximal subpart, as Unicode 3.9 recommends) and NUL
 * becomes U+FFFD too, so nothing is silently dropped and no consumer that
 * stops at NUL (C strings, PostgreSQL text) loses the rest.
 * Every string that enters a result passes here: utf8_sanitize() for
 * data of any length, utf8_copy() for text bound for a fixed buffer (an
 * error note), which also cuts only at a character boundary, since a cut
 * inside a sequence would make jansson refuse the whole string.
 * Never: reads past len, logs, changes well-formed text.
 */
#include "sandbox/sandbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char replacement[3] = { (char)0xEF, (char)0xBF, (char)0xBD };

/* Length of the well-formed sequence at s (1..4), or 0 when ill-formed; in
 * that case *skip is the length of its maximal subpart (at least 1). */
static size_t utf8_seq(const unsigned char *s, size_t avail, size_t *skip)
{
	unsigned char c = s[0];
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xBF;

	*skip = 1;
	if (c < 0x80)
		return c == 0 ? 0 : 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (c == 0xED)
			hi = 0x9F;	/* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;	/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;	/* above U+10FFFF */
	} else
		return 0;	/* 0x80..0xC1, 0xF5..0xFF never start a sequence */

	for (i = 1; i < need; i++) {
		if (i >= avail || s[i] < lo || s[i] > hi) {
			*skip = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need;
}

/* Returns a NUL-terminated copy of in[0..len) with every ill-formed
 * sequence and every NUL replaced by U+FFFD; *out_len (if not NULL) gets
 * its length. NULL only when out of memory. */
char *utf8_sanitize(const char *in, size_t len, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, cap;
	char *out;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	cap = len * 3 + 1;	/* worst case: every byte becomes U+FFFD */
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	while (i < len) {
		size_t skip, n = utf8_seq(s + i, len - i, &skip);

		if (n > 0) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, replacement, sizeof(replacement));
			o += sizeof(replacement);
			i += skip;
		}
	}
	out[o] = '\0';
	if (out_len != NULL)
		*out_len = o;
	return out;
}

/* 1 when s[0..len) is well-formed UTF-8 without NUL, else 0. */
int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t skip, n = utf8_seq(p + i, len - i, &skip);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* Copies in[0..len) into out (outlen bytes, outlen > 0) as utf8_sanitize()
 * would, stopping at the last whole character that fits: out is always
 * NUL-terminated, well-formed UTF-8. Returns the bytes written. */
size_t utf8_copy(char *out, size_t outlen, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0;

	if (outlen == 0)
		return 0;
	while (i < len) {
		size_t skip, n = utf8_seq(s + i, len - i, &skip);
		const void *src = n > 0 ? (const void *)(s + i) : (const void *)replacement;
		size_t w = n > 0 ? n : sizeof(replacement);

		if (o + w >= outlen)
			break;
		memcpy(out + o, src, w);
		o += w;
		i += n > 0 ? n : skip;
	}
	out[o] = '\0';
	return o;
}
