/* medimail-authd: the daemon that owns every Medimail login flow and account rule. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "follow.h"
#include "http.h"
#include "log.h"
#include "login.h"
#include "oidc.h"
#include "psc.h"
#include "records.h"
#include "mcache.h"
#include "names.h"
#include "secret.h"
#include "server.h"

/* Every HTTP connection is a descriptor: the soft limit goes up to the hard
 * one, and a limit too small for http_max_connections is said at start. */
static void raise_fd_limit(const struct mm_config *c)
{
	struct rlimit rl;
	rlim_t need;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	need = 2 * (rlim_t)c->http_max_connections + 16 * (rlim_t)c->http_threads + 256;
	if (c->http_listen && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_msg(LOG_WARNING,
			"open file limit %llu is below the %llu that http_max_connections %u may need",
			(unsigned long long)rl.rlim_cur, (unsigned long long)need, c->http_max_connections);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: medimail-authd [-c FILE] [-f] [-d] [-t]\n"
		"  -c, --config FILE   configuration (default " MM_DEFAULT_CONFIG ")\n"
		"  -f, --foreground    do not detach; log to stderr\n"
		"  -d, --debug         log at debug level\n"
		"  -t, --test          check the configuration and exit\n"
		"  -V, --version       print the version\n");
}

static void policy_sync(const struct mm_config *c, struct store *s)
{
	int r = login_policy_sync(c, s);

	if (r < 0)
		log_msg(LOG_WARNING, "lockout policy of slapd (cn=lockout,ou=policies) not updated: %s",
			strerror(-r));
}

/* Reopens audit_file (moved by logrotate, or changed by a reload); a failure keeps the old one. */
static void audit_reopen(const struct mm_config *c)
{
	int r = audit_file_open(c->audit_file, c->admin_gid_set ? c->admin_gid : (gid_t)-1);

	if (r < 0)
		log_msg(LOG_ERR, "audit_file %s not reopened: %s (still writing the old one)", c->audit_file,
			strerror(-r));
}

/* Readiness for a service manager (sd_notify(3)'s protocol, without libsystemd): one datagram
 * to $NOTIFY_SOCKET, a path or "@" for the abstract namespace. The variable is taken out of the
 * environment at start, before any thread or child exists, so that the card helpers and the
 * removal command do not inherit it. A datagram that cannot be sent is said once in the log
 * and does not stop the next one: a READY=1 lost after a RELOADING=1 that got through would
 * leave the manager waiting for the reload's end (the daemon serves all the same). */
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static bool notify_failed;

static void notify_init(void)
{
	const char *v = getenv("NOTIFY_SOCKET");
	size_t n = v ? strlen(v) : 0;

	if (n == 0)
		return;
	if ((v[0] != '/' && v[0] != '@') || n >= sizeof(notify_addr.sun_path) || n == 1) {
		fprintf(stderr, "medimail-authd: NOTIFY_SOCKET is not a socket path: ignored\n");
	} else {
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, v, n);
		if (v[0] == '@')
			notify_addr.sun_path[0] = '\0';
		notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	unsetenv("NOTIFY_SOCKET");
}

static void notify(const char *state)
{
	int fd;

	if (notify_len == 0)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
		sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&notify_addr,
			notify_len) < 0) {
		if (!notify_failed)
			log_msg(LOG_WARNING, "service manager not told %.*s: %s (said once)",
				(int)strcspn(state, "\n"), state, strerror(errno));
		notify_failed = true;
	}
	if (fd >= 0)
		close(fd);
}

/* RELOADING=1 with the time systemd's Type=notify-reload asks for beside it; READY=1 follows
 * the reload, taken or refused (the refusal is in the log). */
static void notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		(unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	notify(msg);
}

/* SIGHUP: the configuration read again and taken whole, or refused whole (the running one
 * kept, the reason logged). */
static void reload(struct server *srv)
{
	struct daemon *d = srv->d;
	struct mm_config *nc = NULL;
	struct store *ns = NULL;
	char err[512];

	/* logrotate's SIGHUP reopens the audit file even if the new
	 * configuration is refused below (this thread alone replaces d->cfg). */
	audit_reopen(d->cfg);

	if (config_load(d->cfg->path, &nc, err, sizeof(err)) < 0 ||
		names_check_ranges(nc, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
		config_free(nc);
		return;
	}
	if (store_new(nc, &ns) < 0) {
		log_msg(LOG_ERR, "reload refused: directory settings unusable");
		config_free(nc);
		return;
	}
	/* The providers' secrets and TLS client key, checked as at start. */
	if (psc_init(nc, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
		store_free(ns);
		config_free(nc);
		return;
	}
	if (oidc_keys_init(nc, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
		store_free(ns);
		config_free(nc);
		return;
	}
	/* Socket path, key and hashing costs stay those of the start. */
	pthread_rwlock_wrlock(&srv->reload_lock);
	store_free(d->store);
	config_free(d->cfg);
	d->cfg = nc;
	d->store = ns;
	log_setup(nc->log_stderr || getenv("MEDIMAIL_FOREGROUND"), nc->log_level);
	pthread_rwlock_unlock(&srv->reload_lock);
	audit_reopen(nc); /* the new configuration's file and group */
	log_msg(LOG_NOTICE, "configuration reloaded from %s", nc->path);
	policy_sync(nc, ns);
}

static void on_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->wake_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_msg(LOG_NOTICE, "signal %u: stopping", si.ssi_signo);
			atomic_store(&srv->stopping, true);
		} else if (si.ssi_signo == SIGHUP) {
			notify_reloading();
			reload(srv);
			notify("READY=1");
		}
	}
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return chdir("/") < 0 ? -errno : 0;
}

/* What another daemon changes in the directory and this one holds in memory: a revoked session
 * or OpenID grant (a grant's version is its mmSessionMethod), an account locked or disabled (its
 * sessions' cached verification, its cached claims), a client removed. */
static void sessions_changed(const char *dn, const struct entry *e)
{
	session_cache_record_changed(dn);
	oidc_grant_cache_changed(dn, e ? entry_get(e, "mmSessionMethod") : NULL);
}

/* An account or an ORG: the name service's attributes come with the change, so that it is not
 * read again (every password attempt changes mmFailCount twice). */
static void accounts_changed(const char *dn, const struct entry *e)
{
	session_cache_account_changed(dn);
	oidc_claims_cache_changed(dn);
	mcache_followed(dn, e);
}

static void services_changed(const char *dn, const struct entry *e)
{
	(void)dn;
	(void)e;
	service_cache_clear();
	oidc_client_cache_clear();
}

static const char *const session_version[] = {"mmSessionMethod", NULL};

static const struct follow_base followed[] = {
	{.rdn = "ou=sessions", .whole = true, .attrs = session_version, .changed = sessions_changed},
	{.rdn = "ou=people", .whole = false, .attrs = mcache_user_attrs, .changed = accounts_changed},
	{.rdn = "ou=orgs", .whole = false, .attrs = mcache_org_attrs, .changed = accounts_changed},
	{.rdn = "ou=services", .whole = true, .changed = services_changed},
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"debug", no_argument, NULL, 'd'},
		{"test", no_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = MM_DEFAULT_CONFIG;
	bool foreground = false, debug = false, test = false;
	struct server srv = {0};
	struct daemon d = {0};
	struct http *http = NULL;
	char err[512], *socket_at_start = NULL, *pidfile_at_start = NULL;
	bool listening = false, lock_made = false;
	sigset_t mask;
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "c:fdtVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'f': foreground = true; break;
		case 'd': debug = true; break;
		case 't': test = true; break;
		case 'V': printf("medimail-authd %s\n", MM_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* The daemon never resolves names through its own NSS module. */
	setenv("MEDIMAIL_NSS_BYPASS", "1", 1);
	notify_init();
	umask(022);

	r = config_load(path, &d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "medimail-authd: configuration: %s\n", err);
		return 1;
	}
	/* Our numbers must never be the host's: a uid it hands out later would be two users. */
	r = names_check_ranges(d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "medimail-authd: configuration %s: %s\n", path, err);
		config_free(d.cfg);
		return 1;
	}
	if (test) {
		printf("configuration %s: ok\n", path);
		config_free(d.cfg);
		return 0;
	}
	if (foreground)
		setenv("MEDIMAIL_FOREGROUND", "1", 1);
	log_setup(foreground || d.cfg->log_stderr, debug ? LOG_DEBUG : d.cfg->log_level);
	if ((r = audit_file_open(d.cfg->audit_file, d.cfg->admin_gid_set ? d.cfg->admin_gid : (gid_t)-1)) <
		0) {
		fprintf(stderr, "medimail-authd: audit_file %s: %s\n", d.cfg->audit_file,
			r == -EPERM ? "not a regular file of the daemon's user that only it may write"
				    : strerror(-r));
		config_free(d.cfg);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "medimail-authd: libcurl failed to initialise\n");
		config_free(d.cfg);
		return 1;
	}
	r = secret_init(d.cfg->hash_key_file, d.cfg->argon2_opslimit, d.cfg->argon2_memlimit,
		d.cfg->argon2_parallel, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "medimail-authd: hash key: %s\n", err);
		goto out;
	}
	r = psc_init(d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "medimail-authd: identity provider: %s\n", err);
		goto out;
	}
	r = oidc_keys_init(d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "medimail-authd: OpenID Connect provider: %s\n", err);
		goto out;
	}
	r = store_new(d.cfg, &d.store);
	if (r < 0) {
		fprintf(stderr, "medimail-authd: directory: cannot read the bind password: %s\n",
			strerror(-r));
		goto out;
	}
	socket_at_start = strdup(d.cfg->socket_path);
	pidfile_at_start = d.cfg->pid_file ? strdup(d.cfg->pid_file) : NULL;
	if (!socket_at_start || (d.cfg->pid_file && !pidfile_at_start)) {
		fprintf(stderr, "medimail-authd: out of memory\n");
		goto out;
	}
	r = server_listen(d.cfg->socket_path, &srv.listen_fd);
	if (r < 0) {
		fprintf(stderr, "medimail-authd: socket %s: %s\n", d.cfg->socket_path, strerror(-r));
		goto out;
	}
	listening = true;
	if (!foreground && (r = detach()) < 0) {
		fprintf(stderr, "medimail-authd: cannot detach: %s\n", strerror(-r));
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv.wake_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (srv.wake_fd < 0) {
		log_msg(LOG_ERR, "signalfd: %s", strerror(errno));
		goto out;
	}
	if (d.cfg->pid_file && (r = write_pidfile(d.cfg->pid_file)) < 0) {
		log_msg(LOG_ERR, "pid file %s: %s", d.cfg->pid_file, strerror(-r));
		free(pidfile_at_start); /* not ours to remove */
		pidfile_at_start = NULL;
		goto out;
	}
	srv.d = &d;
	srv.on_wake = on_signal;
	pthread_rwlock_init(&srv.reload_lock, NULL);
	lock_made = true;
	raise_fd_limit(d.cfg);
	/* Listener settings, TLS key and PSC secret stay those of the start. */
	r = http_start(&d, &srv.reload_lock, &http, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, "HTTP API: %s", err);
		goto out;
	}
	log_msg(LOG_NOTICE, "medimail-authd %s serving %s (directory %s)", MM_VERSION, d.cfg->socket_path,
		d.cfg->ldap_uri);
	policy_sync(d.cfg, d.store);
	if ((r = mcache_start(&d.cfg, &d.store, &srv.reload_lock)) < 0) {
		log_msg(LOG_ERR, "name-service cache: %s", strerror(-r));
		goto out;
	}
	if ((r = records_sweeper_start(&d.store, &d.cfg, &srv.reload_lock)) < 0)
		log_msg(LOG_WARNING, "no sweep of expired ou=sessions records: %s", strerror(-r));
	if ((r = follow_start(
		     &d.store, &d.cfg, &srv.reload_lock, followed, sizeof(followed) / sizeof(*followed))) < 0)
		log_msg(LOG_WARNING, "the directory is not followed (timers only): %s", strerror(-r));
	/* Every thread started: the socket is answered from here (a client that came earlier
	 * waited in the listen queue). */
	notify("READY=1");
	if (server_run(&srv) == 0)
		status = 0;
	notify("STOPPING=1");
out:
	/* A start that fails half-way undoes what it made: no socket or pid
	 * file is left behind for the next start or a client to trip on. */
	follow_stop();
	records_sweeper_stop();
	http_stop(http);
	mcache_stop();
	if (srv.wake_fd > 0)
		close(srv.wake_fd);
	if (listening) {
		close(srv.listen_fd);
		/* The files made at start, whatever a reload changed since. */
		unlink(socket_at_start);
		if (pidfile_at_start)
			unlink(pidfile_at_start);
	}
	free(socket_at_start);
	free(pidfile_at_start);
	if (lock_made)
		pthread_rwlock_wrlock(&srv.reload_lock);
	store_free(d.store);
	psc_cleanup();
	oidc_keys_cleanup();
	secret_cleanup();
	config_free(d.cfg);
	curl_global_cleanup();
	if (status == 0)
		log_msg(LOG_NOTICE, "stopped");
	return status;
}
