/* Names the name service never serves: the built-in reserved list shared by the daemon and the NSS module. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "reserved.h"

/* The users and groups of Debian's base-passwd, of the packages that grant
 * privileges by group name (sudo, polkit, docker, lxd, libvirt, ...) and the
 * systemd namespaces; the daemon also refuses what the host itself knows. */
static const char *const reserved[] = {
	"root",
	"daemon",
	"bin",
	"sys",
	"sync",
	"games",
	"man",
	"lp",
	"mail",
	"news",
	"uucp",
	"proxy",
	"www-data",
	"backup",
	"list",
	"irc",
	"gnats",
	"nobody",
	"nogroup",
	"adm",
	"admin",
	"sudo",
	"wheel",
	"shadow",
	"disk",
	"kmem",
	"tty",
	"dialout",
	"cdrom",
	"floppy",
	"tape",
	"audio",
	"video",
	"plugdev",
	"netdev",
	"staff",
	"users",
	"operator",
	"src",
	"utmp",
	"sasl",
	"voice",
	"fax",
	"input",
	"render",
	"kvm",
	"sgx",
	"crontab",
	"ssl-cert",
	"lpadmin",
	"sambashare",
	"docker",
	"lxd",
	"libvirt",
	"libvirt-qemu",
	"wireshark",
	"sshd",
	"_ssh",
	"ssh",
	"polkitd",
	"messagebus",
	"openldap",
	"systemd-*",
	"_*",
	NULL,
};

bool mm_name_match(const char *pattern, const char *name)
{
	size_t n;

	if (!pattern || !name || !*pattern)
		return false;
	n = strlen(pattern);
	if (pattern[n - 1] == '*')
		return strncasecmp(pattern, name, n - 1) == 0;
	return strcasecmp(pattern, name) == 0;
}

/* Called on every NSS lookup: a filter (first byte, length) built once in
 * front of the compares, which cost ~5000 instructions a call when run
 * case-blind over the whole list. */
#define EXACT_MAX 16 /* longer than every exact entry above */

static uint32_t len_bits[256]; /* bit n: an exact entry of length n starts with that byte */
static pthread_once_t len_once = PTHREAD_ONCE_INIT;

static void len_bits_build(void)
{
	for (size_t i = 0; reserved[i]; i++) {
		size_t n = strlen(reserved[i]);

		if (reserved[i][n - 1] != '*' && n <= EXACT_MAX)
			len_bits[(uint8_t)reserved[i][0]] |= 1u << n;
	}
}

bool mm_name_reserved_builtin(const char *name)
{
	char low[EXACT_MAX + 1];
	size_t n = 0;

	if (!name)
		return false;
	pthread_once(&len_once, len_bits_build);
	for (; n <= EXACT_MAX && name[n]; n++)
		low[n] = (name[n] >= 'A' && name[n] <= 'Z') ? (char)(name[n] - 'A' + 'a') : name[n];
	/* the patterns: "_*" and "systemd-*" (every name starting with them) */
	if (n && low[0] == '_')
		return true;
	if (n >= 8 && !memcmp(low, "systemd-", 8))
		return true;
	if (n == 0 || n > EXACT_MAX || !(len_bits[(uint8_t)low[0]] >> n & 1))
		return false;
	for (size_t i = 0; reserved[i]; i++)
		if (reserved[i][0] == low[0] && strlen(reserved[i]) == n && !memcmp(reserved[i], low, n))
			return true;
	return false;
}
