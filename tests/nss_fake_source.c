/* A host name source that answers exact lookups and enumerates nothing, as sss
 * (enumerate = false) and ldap sources do: the user "fake.user" (uid 4243), the
 * groups "fake-sudo" (gid 4242) and "fake-gid" (gid 1910310852, a number of
 * the daemon's range). The name-service tests list it in the daemon's
 * nsswitch.conf ("mmfake") to prove that such a source is asked, not assumed. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

static const struct {
	const char *name;
	gid_t gid;
} groups[] = {{"fake-sudo", 4242}, {"fake-gid", 1910310852u}};

static enum nss_status fill_group(size_t i, struct group *gr, char *buf, size_t len, int *errnop)
{
	size_t n = strlen(groups[i].name) + 1,
	       at = (n + 2 + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);

	if (len < at + sizeof(char *)) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	memcpy(buf, groups[i].name, n);
	memcpy(buf + n, "x", 2);
	gr->gr_name = buf;
	gr->gr_passwd = buf + n;
	gr->gr_gid = groups[i].gid;
	gr->gr_mem = (char **)(void *)(buf + at);
	gr->gr_mem[0] = NULL;
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_mmfake_getgrnam_r(
	const char *name, struct group *gr, char *buf, size_t len, int *errnop);
enum nss_status _nss_mmfake_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *errnop)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(name, groups[i].name))
			return fill_group(i, gr, buf, len, errnop);
	*errnop = ENOENT;
	return NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_mmfake_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop);
enum nss_status _nss_mmfake_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (gid == groups[i].gid)
			return fill_group(i, gr, buf, len, errnop);
	*errnop = ENOENT;
	return NSS_STATUS_NOTFOUND;
}

static enum nss_status fill_user(struct passwd *pw, char *buf, size_t len, int *errnop)
{
	static const char text[] = "fake.user\0x\0\0/nonexistent\0/usr/sbin/nologin";

	if (len < sizeof(text)) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	memcpy(buf, text, sizeof(text));
	pw->pw_name = buf;
	pw->pw_passwd = buf + 10;
	pw->pw_gecos = buf + 12;
	pw->pw_dir = buf + 13;
	pw->pw_shell = buf + 26;
	pw->pw_uid = 4243;
	pw->pw_gid = 4242;
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_mmfake_getpwnam_r(
	const char *name, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_mmfake_getpwnam_r(
	const char *name, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	if (strcmp(name, "fake.user")) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return fill_user(pw, buf, len, errnop);
}

enum nss_status _nss_mmfake_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_mmfake_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop)
{
	if (uid != 4243) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return fill_user(pw, buf, len, errnop);
}
