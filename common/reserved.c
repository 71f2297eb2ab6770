/* Names the name service never serves: the built-in reserved list shared by the daemon and the NSS module. */
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

bool mm_name_reserved_builtin(const char *name)
{
	for (size_t i = 0; reserved[i]; i++)
		if (mm_name_match(reserved[i], name))
			return true;
	return false;
}
