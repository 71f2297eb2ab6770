/* The web pages' files (web_root), read into memory at start from an
 * allow-list of extensions with fixed content types (http.h). Nothing is
 * read from the disk while serving: no path from a request ever reaches
 * the file system. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define WEB_FILE_MAX (2u << 20)
#define WEB_TOTAL_MAX (32u << 20)
#define WEB_FILES_MAX 512
#define WEB_DEPTH_MAX 4

struct web_file {
	char *url;
	unsigned char *data;
	size_t len;
	const char *type;
};

struct web_files {
	struct web_file *f;
	size_t n;
	size_t total;
};

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
};

static const char *type_of(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && !strcmp(name + n - e, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

/* A name of [A-Za-z0-9._-], not starting with a dot. */
static bool name_ok(const char *s)
{
	if (!*s || *s == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(s);
}

static int read_file(int dirfd, const char *name, size_t size, unsigned char **ret)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	unsigned char *b;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (!(b = malloc(size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	while (got < size) {
		ssize_t k = read(fd, b + got, size - got);
		if (k <= 0) {
			close(fd);
			free(b);
			return k < 0 ? -errno : -EIO;
		}
		got += (size_t)k;
	}
	close(fd);
	*ret = b;
	return 0;
}

/* The URL of a file: /dir/page.html is served as /dir/page, /index.html as /. */
static char *url_of(const char *prefix, const char *name)
{
	size_t n = strlen(name);
	char *u = NULL;

	if (!strcmp(name, "index.html")) {
		if (asprintf(&u, "%s/", prefix) < 0)
			return NULL;
	} else if (n > 5 && !strcmp(name + n - 5, ".html")) {
		if (asprintf(&u, "%s/%.*s", prefix, (int)(n - 5), name) < 0)
			return NULL;
	} else if (asprintf(&u, "%s/%s", prefix, name) < 0) {
		return NULL;
	}
	return u;
}

static int load_dir(struct web_files *w, int dirfd, const char *prefix, int depth)
{
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (!(dir = fdopendir(dirfd))) {
		close(dirfd);
		return -errno;
	}
	while (r == 0 && (de = readdir(dir))) {
		struct stat st;
		const char *type;

		if (!name_ok(de->d_name) || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < WEB_DEPTH_MAX) {
			char *sub = NULL;
			int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (asprintf(&sub, "%s/%s", prefix, de->d_name) < 0) {
				close(fd);
				r = -ENOMEM;
				break;
			}
			r = load_dir(w, fd, sub, depth + 1);
			free(sub);
			continue;
		}
		if (!S_ISREG(st.st_mode) || !(type = type_of(de->d_name)))
			continue;
		if ((size_t)st.st_size > WEB_FILE_MAX || w->total + (size_t)st.st_size > WEB_TOTAL_MAX ||
			w->n >= WEB_FILES_MAX) {
			log_msg(LOG_WARNING, "web_root: %s%s/%s left out (too large or too many files)", "",
				prefix, de->d_name);
			continue;
		}
		struct web_file *nf = realloc(w->f, (w->n + 1) * sizeof(*w->f)), *f;
		if (!nf) {
			r = -ENOMEM;
			break;
		}
		w->f = nf;
		f = &w->f[w->n];
		memset(f, 0, sizeof(*f));
		f->type = type;
		f->len = (size_t)st.st_size;
		if (!(f->url = url_of(prefix, de->d_name))) {
			r = -ENOMEM;
			break;
		}
		if ((r = read_file(dirfd, de->d_name, f->len, &f->data)) < 0) {
			free(f->url);
			break;
		}
		w->total += f->len;
		w->n++;
	}
	closedir(dir);
	return r;
}

void web_files_free(struct web_files *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->f[i].url);
		free(w->f[i].data);
	}
	free(w->f);
	free(w);
}

int web_files_load(const char *root, struct web_files **ret)
{
	struct web_files *w = calloc(1, sizeof(*w));
	int fd, r;

	*ret = NULL;
	if (!w)
		return -ENOMEM;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	if ((r = load_dir(w, fd, "", 0)) < 0) {
		web_files_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

bool web_file_find(const struct web_files *w, const char *url, const unsigned char **ret_data,
	size_t *ret_len, const char **ret_type)
{
	for (size_t i = 0; w && i < w->n; i++)
		if (!strcmp(w->f[i].url, url)) {
			*ret_data = w->f[i].data;
			*ret_len = w->f[i].len;
			*ret_type = w->f[i].type;
			return true;
		}
	return false;
}

size_t web_files_count(const struct web_files *w)
{
	return w ? w->n : 0;
}
