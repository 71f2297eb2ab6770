/* Outgoing e-mail through an SMTP server (libcurl): codes, confirmation links, notices. */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mail.h"
#include "secret.h"

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

int mail_encode_header(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s);
	bool ascii = true;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || (unsigned char)s[i] < 0x20)
			ascii = false;
	if (ascii) {
		if (n + 1 > outsz)
			return -ENOSPC;
		memcpy(out, s, n + 1);
		return 0;
	}
	if (outsz < 12 + sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
		return -ENOSPC;
	strcpy(out, "=?UTF-8?B?");
	sodium_bin2base64(out + 10, outsz - 10, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
	strcat(out, "?=");
	return 0;
}

/* The bare address inside "Name <addr>" or the whole string. */
static void bare_address(const char *s, char *out, size_t outsz)
{
	const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (lt && gt && (size_t)(gt - lt - 1) < outsz) {
		memcpy(out, lt + 1, (size_t)(gt - lt - 1));
		out[gt - lt - 1] = '\0';
	} else {
		snprintf(out, outsz, "%s", s);
	}
}

int mail_send(const struct mm_config *c, const char *to, const char *subject, const char *body)
{
	char subj[1024], from[320], date[64], msgid[128], idrand[17];
	unsigned char rnd[8];
	struct curl_slist *rcpt = NULL;
	struct upload up = {0};
	char *msg = NULL, *pw = NULL;
	CURL *curl = NULL;
	CURLcode rc;
	time_t now = time(NULL);
	struct tm tm;
	int r = -ECOMM, n;

	/* Header injection: the recipient and subject come from validated fields,
	 * but refuse CR/LF here too. */
	if (strpbrk(to, "\r\n<>") || strpbrk(subject, "\r\n"))
		return -EINVAL;
	if (mail_encode_header(subject, subj, sizeof(subj)) < 0)
		return -EINVAL;
	bare_address(c->smtp_from, from, sizeof(from));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(idrand, sizeof(idrand), rnd, sizeof(rnd));
	snprintf(msgid, sizeof(msgid), "<%lld.%s@medimail-authd>", (long long)now, idrand);
	n = asprintf(&msg,
		"From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n%s\r\n",
		c->smtp_from, to, subj, date, msgid, body);
	if (n < 0)
		return -ENOMEM;
	up.data = msg;
	up.len = (size_t)n;

	curl = curl_easy_init();
	if (!curl)
		goto out;
	{
		char rcpt_addr[330];
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
	rc = curl_easy_perform(curl);
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
	if (msg) {
		secret_wipe(msg, (size_t)n);
		free(msg);
	}
	return r;
}
