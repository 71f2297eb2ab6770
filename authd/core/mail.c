/* Outgoing e-mail through an SMTP server (libcurl): codes, confirmation links, notices. */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mail.h"
#include "metrics.h"
#include "secret.h"

#define QP_LINE 76 /* RFC 2045: encoded lines of at most 76 characters */
#define EW_CHUNK 39 /* bytes per encoded word: 52 base64 characters, 64 with the markers */
#define ADDRESS_MAX 254

/* A growing buffer with a sticky error; what it held is wiped when it moves
 * (a body may hold a code or a link). */
struct mbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void mb_put(struct mbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > SIZE_MAX / 4 - b->len) {
		b->err = -ENOMEM;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(q = malloc(cap))) {
			b->err = -ENOMEM;
			return;
		}
		if (b->p) {
			memcpy(q, b->p, b->len);
			secret_wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void mb_puts(struct mbuf *b, const char *s)
{
	mb_put(b, s, strlen(s));
}

static void mb_drop(struct mbuf *b)
{
	if (b->p) {
		secret_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct upload *u = userp;
	size_t room = size * nmemb, n = u->len - u->off;

	if (n > room)
		n = room;
	memcpy(ptr, u->data + u->off, n);
	u->off += n;
	return n;
}

/* No control character at all: CR or LF would end the header and start another. */
static bool header_safe(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] == 0x7f)
			return false;
	return n <= MAIL_HEADER_MAX;
}

static bool printable_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool address_ok(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);

	if (n == 0 || n > ADDRESS_MAX || !at || at == s || at == s + n - 1 ||
		memchr(at + 1, '@', s + n - at - 1))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
			strchr("<>()[]\\,;:\"", s[i]))
			return false;
	return true;
}

/* Encoded words (RFC 2047, base64) of s, folded between words; a chunk never
 * cuts a UTF-8 sequence. */
static void put_encoded_words(struct mbuf *b, const char *s, size_t n)
{
	char ew[sodium_base64_ENCODED_LEN(EW_CHUNK, sodium_base64_VARIANT_ORIGINAL)];
	size_t off = 0;

	while (off < n) {
		size_t k = n - off > EW_CHUNK ? EW_CHUNK : n - off;

		while (k > 1 && off + k < n && ((unsigned char)s[off + k] & 0xc0) == 0x80)
			k--;
		sodium_bin2base64(
			ew, sizeof(ew), (const unsigned char *)s + off, k, sodium_base64_VARIANT_ORIGINAL);
		if (off)
			mb_puts(b, "\r\n ");
		mb_puts(b, "=?UTF-8?B?");
		mb_puts(b, ew);
		mb_puts(b, "?=");
		off += k;
	}
}

/* An unstructured value (the subject): as is when short printable ASCII. */
static void put_unstructured(struct mbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (printable_ascii(s, n) && n <= 60)
		mb_put(b, s, n);
	else
		put_encoded_words(b, s, n);
}

/* Splits "Name <addr>" (or "addr") into its display name and address. */
static int sender_split(
	const char *s, const char **name, size_t *name_len, const char **addr, size_t *addr_len)
{
	const char *lt = strrchr(s, '<');

	if (!header_safe(s))
		return -EINVAL;
	if (!lt) {
		*name = s;
		*name_len = 0;
		*addr = s;
		*addr_len = strlen(s);
	} else {
		const char *gt = strchr(lt, '>'), *end = lt;

		if (!gt || gt[1])
			return -EINVAL;
		while (end > s && end[-1] == ' ')
			end--;
		*name = s;
		*name_len = (size_t)(end - s);
		*addr = lt + 1;
		*addr_len = (size_t)(gt - lt - 1);
	}
	return address_ok(*addr, *addr_len) ? 0 : -EINVAL;
}

int mail_sender_check(const char *s)
{
	const char *name, *addr;
	size_t nl, al;

	return s ? sender_split(s, &name, &nl, &addr, &al) : -EINVAL;
}

static void put_mailbox(struct mbuf *b, const char *name, size_t nl, const char *addr, size_t al)
{
	if (nl) {
		if (printable_ascii(name, nl) && nl <= 60) {
			mb_puts(b, "\"");
			for (size_t i = 0; i < nl; i++) {
				if (name[i] == '"' || name[i] == '\\')
					mb_puts(b, "\\");
				mb_put(b, name + i, 1);
			}
			mb_puts(b, "\"");
		} else {
			put_encoded_words(b, name, nl);
		}
		mb_puts(b, " ");
	}
	mb_puts(b, "<");
	mb_put(b, addr, al);
	mb_puts(b, ">");
}

/* Quoted-printable (RFC 2045) of UTF-8 text with "\n" line ends, as CRLF lines. */
static void put_qp(struct mbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char enc[3];
		size_t w;

		if (ch == '\r')
			continue;
		if (ch == '\n') {
			mb_puts(b, "\r\n");
			col = 0;
			continue;
		}
		/* A space or tab at the end of a line would be lost in transit. */
		if ((ch >= 33 && ch <= 126 && ch != '=') ||
			((ch == ' ' || ch == '\t') && s[1] && s[1] != '\n' && s[1] != '\r')) {
			enc[0] = (char)ch;
			w = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[ch >> 4];
			enc[2] = hex[ch & 15];
			w = 3;
		}
		if (col + w > QP_LINE - 1) { /* room for the soft break's '=' */
			mb_puts(b, "=\r\n");
			col = 0;
		}
		mb_put(b, enc, w);
		col += w;
	}
	if (col)
		mb_puts(b, "\r\n");
}

static bool boundary_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 70)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') || strchr("=_.-", s[i])))
			return false;
	return true;
}

int mail_build(const struct mail_parts *p, char **ret, size_t *ret_len)
{
	const char *name, *addr;
	size_t nl, al;
	struct mbuf b = {0};

	if (!p->from || !p->to || !p->subject || !p->date || !p->msgid || !p->boundary || !p->text ||
		!p->html)
		return -EINVAL;
	if (sender_split(p->from, &name, &nl, &addr, &al) < 0 || !header_safe(p->to) ||
		!address_ok(p->to, strlen(p->to)) || !header_safe(p->subject) || !header_safe(p->date) ||
		!printable_ascii(p->msgid, strlen(p->msgid)) || strchr(p->msgid, ' ') ||
		!boundary_ok(p->boundary))
		return -EINVAL;
	mb_puts(&b, "From: ");
	put_mailbox(&b, name, nl, addr, al);
	mb_puts(&b, "\r\nTo: <");
	mb_puts(&b, p->to);
	mb_puts(&b, ">\r\nSubject: ");
	put_unstructured(&b, p->subject);
	mb_puts(&b, "\r\nDate: ");
	mb_puts(&b, p->date);
	mb_puts(&b, "\r\nMessage-ID: ");
	mb_puts(&b, p->msgid);
	mb_puts(&b, "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"");
	mb_puts(&b, p->boundary);
	mb_puts(&b, "\"\r\nAuto-Submitted: auto-generated\r\n\r\n");
	mb_puts(&b, "--");
	mb_puts(&b, p->boundary);
	mb_puts(&b,
		"\r\nContent-Type: text/plain; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	put_qp(&b, p->text);
	mb_puts(&b, "--");
	mb_puts(&b, p->boundary);
	mb_puts(&b,
		"\r\nContent-Type: text/html; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	put_qp(&b, p->html);
	mb_puts(&b, "--");
	mb_puts(&b, p->boundary);
	mb_puts(&b, "--\r\n");
	if (b.err) {
		int rc = b.err;

		mb_drop(&b);
		return rc;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

static void put_escaped(struct mbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': mb_puts(b, "&amp;"); break;
		case '<': mb_puts(b, "&lt;"); break;
		case '>': mb_puts(b, "&gt;"); break;
		case '"': mb_puts(b, "&quot;"); break;
		case '\'': mb_puts(b, "&#39;"); break;
		default: mb_put(b, s + i, 1);
		}
	}
}

/* One line of text: escaped, its https:// and http:// links made clickable. */
static void put_html_line(struct mbuf *b, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *rest = s + i;
		size_t left = n - i, k;

		if ((left > 8 && !strncmp(rest, "https://", 8)) ||
			(left > 7 && !strncmp(rest, "http://", 7))) {
			for (k = 0; k < left && (unsigned char)rest[k] > 0x20 && !strchr("<>\"'", rest[k]);
				k++)
				;
			mb_puts(b, "<a href=\"");
			put_escaped(b, rest, k);
			mb_puts(b, "\">");
			put_escaped(b, rest, k);
			mb_puts(b, "</a>");
			i += k;
		} else {
			put_escaped(b, rest, 1);
			i++;
		}
	}
}

char *mail_html_from_text(const char *subject, const char *text)
{
	struct mbuf b = {0};
	const char *s = text;
	bool open = false;

	mb_puts(&b, "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"UTF-8\">\n<title>");
	put_escaped(&b, subject, strlen(subject));
	mb_puts(&b, "</title>\n</head>\n<body>\n");
	while (*s) {
		size_t n = strcspn(s, "\n");

		if (n == 0) {
			if (open)
				mb_puts(&b, "</p>\n");
			open = false;
		} else {
			mb_puts(&b, open ? "<br>\n" : "<p>");
			put_html_line(&b, s, n);
			open = true;
		}
		s += n;
		if (*s == '\n')
			s++;
	}
	if (open)
		mb_puts(&b, "</p>\n");
	mb_puts(&b, "</body>\n</html>\n");
	if (b.err) {
		mb_drop(&b);
		return NULL;
	}
	return b.p;
}

int mail_send(
	const struct mm_config *c, enum mail_kind kind, const char *to, const char *subject, const char *text)
{
	const char *sender = kind == MAIL_CODE ? c->mail_from_code : c->mail_from_account;
	const char *name, *addr;
	char from[ADDRESS_MAX + 1], date[64], msgid[128], boundary[48], idrand[33];
	unsigned char rnd[16];
	size_t nl, al, len = 0;
	struct curl_slist *rcpt = NULL;
	struct upload up = {0};
	struct mail_parts parts;
	char *msg = NULL, *pw = NULL, *html = NULL, *full = NULL;
	CURL *curl = NULL;
	CURLcode rc;
	time_t now = time(NULL);
	struct tm tm;
	int r;

	if (sender_split(sender, &name, &nl, &addr, &al) < 0)
		return -EINVAL;
	memcpy(from, addr, al);
	from[al] = '\0';
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(idrand, sizeof(idrand), rnd, sizeof(rnd));
	snprintf(msgid, sizeof(msgid), "<%lld.%.16s@medimail-authd>", (long long)now, idrand);
	snprintf(boundary, sizeof(boundary), "=_mm_%s", idrand);
	if (asprintf(&full, "%s\n\n%s\n", text, MAIL_FOOTER) < 0) {
		full = NULL;
		return -ENOMEM;
	}
	if (!(html = mail_html_from_text(subject, full))) {
		r = -ENOMEM;
		goto out;
	}
	parts = (struct mail_parts){.from = sender,
		.to = to,
		.subject = subject,
		.date = date,
		.msgid = msgid,
		.boundary = boundary,
		.text = full,
		.html = html};
	if ((r = mail_build(&parts, &msg, &len)) < 0)
		goto out;
	up.data = msg;
	up.len = len;

	r = -ECOMM;
	curl = curl_easy_init();
	if (!curl)
		goto out;
	{
		char rcpt_addr[ADDRESS_MAX + 3];
		snprintf(rcpt_addr, sizeof(rcpt_addr), "<%s>", to);
		rcpt = curl_slist_append(NULL, rcpt_addr);
	}
	if (!rcpt)
		goto out;
	curl_easy_setopt(curl, CURLOPT_URL, c->smtp_url);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)c->smtp_timeout);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)c->smtp_timeout);
	if (c->smtp_starttls)
		curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->smtp_user && c->smtp_password_file) {
		FILE *f = fopen(c->smtp_password_file, "re");
		char buf[256] = "";
		if (!f) {
			log_msg(LOG_ERR, "smtp_password_file %s: %s", c->smtp_password_file, strerror(errno));
			goto out;
		}
		if (fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\r\n")] = '\0';
		fclose(f);
		pw = strdup(buf);
		secret_wipe(buf, sizeof(buf));
		if (!pw)
			goto out;
		curl_easy_setopt(curl, CURLOPT_USERNAME, c->smtp_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, pw);
	}
	{
		double t0 = metrics_mono();

		rc = curl_easy_perform(curl);
		metrics_smtp(metrics_mono() - t0, rc == CURLE_OK);
	}
	if (rc != CURLE_OK) {
		log_msg(LOG_ERR, "mail to <%s> not sent: %s (%s)", to, curl_easy_strerror(rc), c->smtp_url);
		goto out;
	}
	r = 0;
out:
	curl_slist_free_all(rcpt);
	if (curl)
		curl_easy_cleanup(curl);
	secret_free(pw);
	/* the body may hold a code or a link: wipe it */
	secret_free(msg);
	secret_free(html);
	secret_free(full);
	return r;
}
