/* The memory-mapped passwd/group cache (mcfile.h): builder and a reader that treats the file as untrusted input. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mcfile.h"

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)
#define SUM_INIT 0x6d6d6361756c6cULL

/* ------------------------------------------------------------------ hashes */

uint32_t mc_hash_str(uint32_t seed, const char *s, size_t n)
{
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h ? h : 1;
}

uint32_t mc_hash_id(uint32_t seed, uint32_t id)
{
	uint64_t x = ((uint64_t)seed << 32 | id) * 0x9e3779b97f4a7c15ULL;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return (uint32_t)x ? (uint32_t)x : 1;
}

/* A fast non-cryptographic checksum: it detects damage, not forgery (the
 * files are root-owned; a forger could write them anyway). */
static uint64_t sum_update(uint64_t h, const void *p, size_t n)
{
	const uint8_t *c = p;
	uint64_t w;

	/* Four independent lanes while there is enough data: the multiplies overlap. */
	if (n >= 32) {
		uint64_t l[4] = {
			h, h ^ 0x9e3779b97f4a7c15ULL, h ^ 0xc2b2ae3d27d4eb4fULL, h ^ 0x165667b19e3779f9ULL};

		while (n >= 32) {
			for (int i = 0; i < 4; i++) {
				memcpy(&w, c + 8 * i, 8);
				l[i] = (l[i] ^ w) * 0x100000001b3ULL;
				l[i] ^= l[i] >> 29;
			}
			c += 32;
			n -= 32;
		}
		h = l[0] ^ (l[1] * 3) ^ (l[2] * 5) ^ (l[3] * 7);
	}
	while (n >= 8) {
		memcpy(&w, c, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
		c += 8;
		n -= 8;
	}
	w = 0;
	if (n) {
		memcpy(&w, c, n);
		h = (h ^ w ^ ((uint64_t)n << 56)) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

static uint32_t sum_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h ^ (uint32_t)(h >> 32);
}

static uint32_t header_sum(const struct mc_header *h)
{
	struct mc_header c = *h;

	c.stale = 0;
	c.header_sum = 0;
	return sum_final(sum_update(SUM_INIT, &c, sizeof(c)));
}

static uint32_t rec_sum(const struct mc_rec *r, const void *data)
{
	struct mc_rec c = *r;

	c.sum = 0;
	return sum_final(sum_update(sum_update(SUM_INIT, &c, sizeof(c)), data, r->data_len));
}

static void fold_ascii(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
}

/* ----------------------------------------------------------------- builder */

struct brec {
	uint32_t off; /* in the data area */
	uint8_t keys; /* bit t: the record is in table t */
};

struct mc_builder {
	uint32_t kind, seed;
	uint8_t *data;
	size_t len, cap;
	struct brec *recs;
	size_t nrecs, rcap;
};

int mc_builder_new(uint32_t kind, uint32_t seed, struct mc_builder **ret)
{
	struct mc_builder *b;

	*ret = NULL;
	if (kind != MC_PASSWD && kind != MC_GROUP)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->kind = kind;
	b->seed = seed;
	*ret = b;
	return 0;
}

void mc_builder_free(struct mc_builder *b)
{
	if (!b)
		return;
	free(b->data);
	free(b->recs);
	free(b);
}

/* Appends one record: header, ids, strings. */
static int builder_put(struct mc_builder *b, struct mc_rec *h, uint8_t keys, const uint32_t *ids,
	const char *const *strs, const size_t *lens)
{
	size_t dlen = (size_t)h->nids * 4, total, off;
	uint8_t *p;

	for (uint32_t i = 0; i < h->nstrs; i++) {
		if (memchr(strs[i], '\0', lens[i]))
			return -EINVAL;
		dlen += lens[i] + 1;
	}
	total = ALIGN8(sizeof(*h) + dlen);
	if (total > MC_REC_MAX)
		return -E2BIG;
	if (b->len + total > MC_FILE_MAX)
		return -EFBIG;
	if (b->len + total > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *nd;

		while (cap < b->len + total)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	if (array_grow(&b->recs, &b->rcap, b->nrecs, sizeof(*b->recs), 1024) < 0)
		return -ENOMEM;
	off = b->len;
	h->len = (uint32_t)total;
	h->data_len = (uint32_t)dlen;
	p = b->data + off;
	memset(p, 0, total);
	if (h->nids)
		memcpy(p + sizeof(*h), ids, (size_t)h->nids * 4);
	p += sizeof(*h) + (size_t)h->nids * 4;
	for (uint32_t i = 0; i < h->nstrs; i++) {
		memcpy(p, strs[i], lens[i]);
		p += lens[i] + 1;
	}
	memcpy(b->data + off, h, sizeof(*h));
	b->recs[b->nrecs].off = (uint32_t)off;
	b->recs[b->nrecs].keys = keys;
	b->nrecs++;
	b->len += total;
	return 0;
}

static bool key_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= MC_KEY_MAX;
}

int mc_builder_add_pw(struct mc_builder *b, const char *login, const char *mail, uint32_t uid, uint32_t gid,
	const char *gecos, const char *dir, const char *shell)
{
	char lmail[MC_KEY_MAX];
	const char *strs[5];
	size_t lens[5];
	struct mc_rec h = {.kind = MC_REC_PW, .id = uid, .id2 = gid, .nstrs = 5};
	uint8_t keys = 1u << 0 | 1u << 2;

	if (b->kind != MC_PASSWD || !key_ok(login) || strchr(login, '@') || !gecos || !dir || !shell)
		return -EINVAL;
	if (mail && *mail) {
		if (!key_ok(mail))
			return -EINVAL;
		fold_ascii(lmail, mail, strlen(mail));
		strs[1] = lmail;
		lens[1] = strlen(mail);
		keys |= 1u << 1;
		h.hash[1] = mc_hash_str(b->seed, lmail, lens[1]);
	} else {
		strs[1] = "";
		lens[1] = 0;
	}
	strs[0] = login, lens[0] = strlen(login);
	strs[2] = gecos, lens[2] = strlen(gecos);
	strs[3] = dir, lens[3] = strlen(dir);
	strs[4] = shell, lens[4] = strlen(shell);
	h.hash[0] = mc_hash_str(b->seed, login, lens[0]);
	h.hash[2] = mc_hash_id(b->seed, uid);
	return builder_put(b, &h, keys, NULL, strs, lens);
}

int mc_builder_add_gr(
	struct mc_builder *b, const char *name, uint32_t gid, const char *const *members, size_t nmembers)
{
	struct mc_rec h = {.kind = MC_REC_GR, .id = gid};
	const char **strs;
	size_t *lens;
	int r;

	if (b->kind != MC_GROUP || !key_ok(name) || nmembers > MC_REC_MAX / 2)
		return -EINVAL;
	strs = calloc(nmembers + 1, sizeof(*strs));
	lens = calloc(nmembers + 1, sizeof(*lens));
	if (!strs || !lens) {
		r = -ENOMEM;
		goto out;
	}
	strs[0] = name;
	lens[0] = strlen(name);
	for (size_t i = 0; i < nmembers; i++) {
		if (!key_ok(members[i])) {
			r = -EINVAL;
			goto out;
		}
		strs[i + 1] = members[i];
		lens[i + 1] = strlen(members[i]);
	}
	h.nstrs = (uint32_t)nmembers + 1;
	h.hash[0] = mc_hash_str(b->seed, name, lens[0]);
	h.hash[1] = mc_hash_id(b->seed, gid);
	r = builder_put(b, &h, 1u << 0 | 1u << 1, NULL, strs, lens);
out:
	free(strs);
	free(lens);
	return r;
}

int mc_builder_add_memberof(struct mc_builder *b, const char *login, const uint32_t *gids, size_t ngids)
{
	struct mc_rec h = {.kind = MC_REC_MEMBEROF, .nstrs = 1};
	const char *strs[1] = {login};
	size_t lens[1];

	if (b->kind != MC_GROUP || !key_ok(login) || ngids > MC_REC_MAX / 4)
		return -EINVAL;
	lens[0] = strlen(login);
	h.nids = (uint32_t)ngids;
	h.hash[2] = mc_hash_str(b->seed, login, lens[0]);
	return builder_put(b, &h, 1u << 2, gids, strs, lens);
}

int mc_builder_finish(
	struct mc_builder *b, uint64_t generation, uint32_t flags, uint8_t **ret, size_t *ret_len)
{
	struct mc_header hd = {0};
	size_t nb = 64, tables, total;
	uint8_t *img;
	uint32_t *heads[MC_TABLES];

	*ret = NULL;
	*ret_len = 0;
	while (nb < b->nrecs && nb < MC_BUCKETS_MAX)
		nb *= 2;
	tables = sizeof(hd) + MC_TABLES * nb * 4;
	total = tables + b->len;
	if (total > MC_FILE_MAX)
		return -EFBIG;
	img = calloc(1, total);
	if (!img)
		return -ENOMEM;
	hd.magic = MC_MAGIC;
	hd.version = MC_VERSION;
	hd.kind = b->kind;
	hd.header_size = sizeof(hd);
	hd.generation = generation;
	hd.flags = flags;
	hd.file_size = total;
	hd.seed = b->seed;
	hd.nbuckets = (uint32_t)nb;
	hd.nrecords = (uint32_t)b->nrecs;
	hd.ntables = MC_TABLES;
	for (int t = 0; t < MC_TABLES; t++) {
		hd.table_off[t] = (uint32_t)(sizeof(hd) + (size_t)t * nb * 4);
		heads[t] = (uint32_t *)(img + hd.table_off[t]);
	}
	hd.data_off = (uint32_t)tables;
	hd.data_size = (uint32_t)b->len;
	if (b->len)
		memcpy(img + tables, b->data, b->len);
	/* Link the chains, then seal each record with its guard and checksum. */
	for (size_t i = 0; i < b->nrecs; i++) {
		uint32_t off = (uint32_t)(tables + b->recs[i].off);
		struct mc_rec h;

		memcpy(&h, img + off, sizeof(h));
		for (int t = 0; t < MC_TABLES; t++) {
			uint32_t *head;

			if (!(b->recs[i].keys & (1u << t)))
				continue;
			head = &heads[t][h.hash[t] & (nb - 1)];
			h.next[t] = *head;
			*head = off;
		}
		h.guard = (uint32_t)generation;
		h.sum = rec_sum(&h, img + off + sizeof(h));
		memcpy(img + off, &h, sizeof(h));
	}
	hd.header_sum = header_sum(&hd);
	memcpy(img, &hd, sizeof(hd));
	*ret = img;
	*ret_len = total;
	return 0;
}

/* ------------------------------------------------------------------ reader */

int mc_map_memory(const void *p, size_t len, uint32_t kind, struct mc_map *ret)
{
	struct mc_header h;
	uint64_t tables_end;

	memset(ret, 0, sizeof(*ret));
	if (!p || len < sizeof(h) || len > MC_FILE_MAX || ((uintptr_t)p & 7))
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (h.magic != MC_MAGIC || h.version != MC_VERSION || h.kind != kind || h.header_size != sizeof(h) ||
		h.file_size != len || h.ntables != MC_TABLES || h.stale || h.header_sum != header_sum(&h))
		return -EBADMSG;
	if (h.nbuckets == 0 || h.nbuckets > MC_BUCKETS_MAX || (h.nbuckets & (h.nbuckets - 1)))
		return -EBADMSG;
	for (int t = 0; t < MC_TABLES; t++)
		if (h.table_off[t] < sizeof(h) || (h.table_off[t] & 3) ||
			(uint64_t)h.table_off[t] + (uint64_t)h.nbuckets * 4 > h.data_off)
			return -EBADMSG;
	tables_end = (uint64_t)h.data_off + h.data_size;
	if ((h.data_off & 7) || h.data_off > len || tables_end > len)
		return -EBADMSG;
	ret->base = p;
	ret->size = len;
	ret->kind = kind;
	ret->seed = h.seed;
	ret->nbuckets = h.nbuckets;
	ret->nrecords = h.nrecords;
	ret->flags = h.flags;
	memcpy(ret->table_off, h.table_off, sizeof(ret->table_off));
	ret->data_off = h.data_off;
	ret->data_end = (uint32_t)tables_end;
	ret->generation = h.generation;
	return 0;
}

int mc_map_open(const char *path, uint32_t kind, struct mc_map *ret)
{
	struct stat st;
	void *p;
	int fd, r;

	memset(ret, 0, sizeof(*ret));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* Only a file the daemon (root) or the caller itself wrote is trusted. */
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	if (st.st_size < (off_t)sizeof(struct mc_header) || st.st_size > (off_t)MC_FILE_MAX) {
		close(fd);
		return -EBADMSG;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	r = mc_map_memory(p, (size_t)st.st_size, kind, ret);
	if (r < 0) {
		munmap(p, (size_t)st.st_size);
		return r;
	}
	ret->mapped = true;
	return 0;
}

void mc_map_close(struct mc_map *m)
{
	if (m && m->base && m->mapped)
		munmap((void *)m->base, m->size);
	if (m)
		memset(m, 0, sizeof(*m));
}

bool mc_map_current(const struct mc_map *m)
{
	const struct mc_header *h = (const struct mc_header *)m->base;

	if (!m->base)
		return false;
	return __atomic_load_n(&h->stale, __ATOMIC_ACQUIRE) == 0 &&
		__atomic_load_n(&h->generation, __ATOMIC_ACQUIRE) == m->generation;
}

/* Copies the header of the record at off, checking every bound. */
static int rec_header(const struct mc_map *m, uint32_t off, struct mc_rec *ret)
{
	if (off < m->data_off || (off & 7) || off > m->data_end || m->data_end - off < sizeof(*ret))
		return -EBADMSG;
	memcpy(ret, m->base + off, sizeof(*ret));
	if (ret->guard != (uint32_t)m->generation || ret->len < sizeof(*ret) || ret->len > MC_REC_MAX ||
		(ret->len & 7) || ret->len > m->data_end - off || ret->data_len > ret->len - sizeof(*ret) ||
		ALIGN8(sizeof(*ret) + (size_t)ret->data_len) != ret->len || ret->nids > ret->data_len / 4 ||
		ret->nstrs == 0 || ret->nstrs > ret->data_len - ret->nids * 4)
		return -EBADMSG;
	return 0;
}

static uint32_t bucket_head(const struct mc_map *m, int t, uint32_t h)
{
	uint32_t v;

	memcpy(&v, m->base + m->table_off[t] + (size_t)(h & (m->nbuckets - 1)) * 4, 4);
	return v;
}

/* Does string number idx of the record at off equal key? Read in place, bounded. */
static bool rec_str_equals(const struct mc_map *m, uint32_t off, const struct mc_rec *h, uint32_t idx,
	const char *key, size_t klen)
{
	const uint8_t *p = m->base + off + sizeof(*h) + (size_t)h->nids * 4;
	const uint8_t *end = m->base + off + sizeof(*h) + h->data_len;

	for (uint32_t i = 0; i < idx; i++) {
		const uint8_t *z = memchr(p, '\0', (size_t)(end - p));

		if (!z)
			return false;
		p = z + 1;
	}
	return (size_t)(end - p) > klen && !memcmp(p, key, klen) && p[klen] == '\0';
}

/* Finds a record of the given kind in table t by string key. */
static int find_str(const struct mc_map *m, int t, uint32_t kind, uint32_t stridx, const char *key,
	size_t klen, uint32_t *ret_off, struct mc_rec *ret)
{
	uint32_t h = mc_hash_str(m->seed, key, klen), off = bucket_head(m, t, h);

	for (uint32_t steps = 0; off; steps++) {
		if (steps > m->nrecords || rec_header(m, off, ret) < 0)
			return -EBADMSG;
		if (ret->kind == kind && ret->hash[t] == h &&
			rec_str_equals(m, off, ret, stridx, key, klen)) {
			*ret_off = off;
			return 0;
		}
		off = ret->next[t];
	}
	return -ENOENT;
}

static int find_id(
	const struct mc_map *m, int t, uint32_t kind, uint32_t id, uint32_t *ret_off, struct mc_rec *ret)
{
	uint32_t h = mc_hash_id(m->seed, id), off = bucket_head(m, t, h);

	for (uint32_t steps = 0; off; steps++) {
		if (steps > m->nrecords || rec_header(m, off, ret) < 0)
			return -EBADMSG;
		if (ret->kind == kind && ret->hash[t] == h && ret->id == id) {
			*ret_off = off;
			return 0;
		}
		off = ret->next[t];
	}
	return -ENOENT;
}

/* Copies the data of a record out, then proves the copy: guard unchanged,
 * file still current (the one generation check of a lookup), checksum, and
 * exactly nstrs NUL-terminated strings, the last one ending the data. The
 * start of each string goes to strs[0 .. nstrs-1] (from the walk that
 * validates them: nothing scans the copy again). */
static int rec_copy(const struct mc_map *m, uint32_t off, const struct mc_rec *h, void *dst, char **strs)
{
	const uint8_t *d, *end;
	uint32_t guard, n = 0;

	memcpy(dst, m->base + off + sizeof(*h), h->data_len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	memcpy(&guard, m->base + off, sizeof(guard));
	if (guard != h->guard || !mc_map_current(m))
		return -ESTALE;
	if (rec_sum(h, dst) != h->sum)
		return -EBADMSG;
	d = (const uint8_t *)dst + (size_t)h->nids * 4;
	end = (const uint8_t *)dst + h->data_len;
	if (d == end || end[-1] != '\0')
		return -EBADMSG;
	while (d < end) {
		const uint8_t *z = memchr(d, '\0', (size_t)(end - d));

		if (n >= h->nstrs)
			return -EBADMSG;
		strs[n++] = (char *)(uintptr_t)d;
		d = z + 1; /* z != NULL: the data ends with a NUL */
	}
	return n == h->nstrs ? 0 : -EBADMSG;
}

static int pw_fill(const struct mc_map *m, uint32_t off, const struct mc_rec *h, struct passwd *ret,
	char *buf, size_t buflen, size_t *ret_need, char **strs)
{
	size_t need = (size_t)h->data_len + 2;
	int r;

	if (h->nstrs != 5 || h->nids != 0)
		return -EBADMSG;
	if (ret_need)
		*ret_need = need;
	if (buflen < need)
		return -ERANGE;
	r = rec_copy(m, off, h, buf, strs);
	if (r < 0)
		return r;
	ret->pw_name = strs[0]; /* strs[1]: the e-mail */
	ret->pw_gecos = strs[2];
	ret->pw_dir = strs[3];
	ret->pw_shell = strs[4];
	ret->pw_passwd = buf + h->data_len;
	memcpy(ret->pw_passwd, "*", 2);
	ret->pw_uid = h->id;
	ret->pw_gid = h->id2;
	return 0;
}

static int gr_fill(const struct mc_map *m, uint32_t off, const struct mc_rec *h, struct group *ret, char *buf,
	size_t buflen, size_t *ret_need)
{
	size_t pad = (size_t)(-(uintptr_t)buf & (sizeof(char *) - 1));
	size_t nmem = h->nstrs - 1, ptrs = (nmem + 1) * sizeof(char *);
	size_t need = pad + ptrs + h->data_len + 2;
	char **mem, *s;
	int r;

	if (h->nids != 0)
		return -EBADMSG;
	if (ret_need)
		*ret_need = need;
	if (buflen < need)
		return -ERANGE;
	mem = (char **)(void *)(buf + pad);
	s = buf + pad + ptrs;
	/* nstrs slots: the name, then the members, moved down one below */
	r = rec_copy(m, off, h, s, mem);
	if (r < 0)
		return r;
	ret->gr_name = mem[0];
	ret->gr_gid = h->id;
	ret->gr_passwd = s + h->data_len;
	memcpy(ret->gr_passwd, "*", 2);
	memmove(mem, mem + 1, nmem * sizeof(char *));
	mem[nmem] = NULL;
	ret->gr_mem = mem;
	return 0;
}

/* The length of string i of a validated copy (strs from rec_copy, data ends at end). */
static size_t str_len(char *const *strs, uint32_t i, uint32_t nstrs, const char *end)
{
	return (size_t)((i + 1 < nstrs ? strs[i + 1] : end) - strs[i]) - 1;
}

int mc_getpwnam(const struct mc_map *m, const char *name, struct passwd *ret, char *buf, size_t buflen,
	size_t *ret_need)
{
	char key[MC_KEY_MAX], *strs[5];
	size_t n = strlen(name);
	bool mail;
	struct mc_rec h;
	uint32_t off;
	int r;

	if (!m->base || m->kind != MC_PASSWD)
		return -ENOENT;
	if (n == 0 || n > MC_KEY_MAX)
		return -ENOENT;
	mail = memchr(name, '@', n) != NULL;
	if (mail) {
		fold_ascii(key, name, n);
		r = find_str(m, 1, MC_REC_PW, 1, key, n, &off, &h);
	} else {
		memcpy(key, name, n);
		r = find_str(m, 0, MC_REC_PW, 0, key, n, &off, &h);
	}
	if (r == 0)
		r = pw_fill(m, off, &h, ret, buf, buflen, ret_need, strs);
	if (r < 0)
		return r;
	/* The key is proven again on the verified copy. */
	if (str_len(strs, mail, 5, buf + h.data_len) != n || memcmp(strs[mail], key, n))
		return -EBADMSG;
	return 0;
}

int mc_getpwuid(
	const struct mc_map *m, uint32_t uid, struct passwd *ret, char *buf, size_t buflen, size_t *ret_need)
{
	struct mc_rec h;
	uint32_t off;
	int r;

	if (!m->base || m->kind != MC_PASSWD)
		return -ENOENT;
	char *strs[5];

	r = find_id(m, 2, MC_REC_PW, uid, &off, &h);
	return r < 0 ? r : pw_fill(m, off, &h, ret, buf, buflen, ret_need, strs);
}

int mc_getgrnam(const struct mc_map *m, const char *name, struct group *ret, char *buf, size_t buflen,
	size_t *ret_need)
{
	size_t n = strlen(name);
	struct mc_rec h;
	uint32_t off;
	int r;

	if (!m->base || m->kind != MC_GROUP || n == 0 || n > MC_KEY_MAX)
		return -ENOENT;
	r = find_str(m, 0, MC_REC_GR, 0, name, n, &off, &h);
	if (r == 0)
		r = gr_fill(m, off, &h, ret, buf, buflen, ret_need);
	/* string 0 ends where the first member (or the data) starts */
	if (r == 0 &&
		((size_t)((ret->gr_mem[0] ? ret->gr_mem[0] : ret->gr_passwd) - ret->gr_name) != n + 1 ||
			memcmp(ret->gr_name, name, n)))
		r = -EBADMSG;
	return r;
}

int mc_getgrgid(
	const struct mc_map *m, uint32_t gid, struct group *ret, char *buf, size_t buflen, size_t *ret_need)
{
	struct mc_rec h;
	uint32_t off;
	int r;

	if (!m->base || m->kind != MC_GROUP)
		return -ENOENT;
	r = find_id(m, 1, MC_REC_GR, gid, &off, &h);
	return r < 0 ? r : gr_fill(m, off, &h, ret, buf, buflen, ret_need);
}

int mc_initgroups(const struct mc_map *m, const char *user, void *scratch, size_t scratchlen,
	const uint32_t **ret_gids, size_t *ret_n, size_t *ret_need)
{
	char *login;
	size_t n = strlen(user);
	struct mc_rec h;
	uint32_t off;
	int r;

	if (!m->base || m->kind != MC_GROUP || n == 0 || n > MC_KEY_MAX || ((uintptr_t)scratch & 3))
		return -ENOENT;
	r = find_str(m, 2, MC_REC_MEMBEROF, 0, user, n, &off, &h);
	if (r < 0)
		return r;
	if (h.nstrs != 1)
		return -EBADMSG;
	if (ret_need)
		*ret_need = h.data_len;
	if (scratchlen < h.data_len)
		return -ERANGE;
	r = rec_copy(m, off, &h, scratch, &login);
	if (r < 0)
		return r;
	if ((size_t)((const char *)scratch + h.data_len - login) != n + 1 || memcmp(login, user, n))
		return -EBADMSG;
	*ret_gids = scratch;
	*ret_n = h.nids;
	return 0;
}
