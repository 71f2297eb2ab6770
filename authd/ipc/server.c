/* The unix socket: accepts clients, learns who they are (SO_PEERCRED) and serves their requests. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"

#define MAX_REQUESTS_PER_CONN 10000

static atomic_uint nclients;

int server_listen(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* Remove a stale socket, never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		/* Everyone may connect: each request checks who the caller is. */
		chmod(path, 0666) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

struct client {
	int fd;
	struct server *srv;
};

static bool caller_is_admin(const struct mm_config *c, int fd, const struct ucred *cr)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cr->uid == 0)
		return true;
	if (!c->admin_gid_set)
		return false;
	if (cr->gid == c->admin_gid)
		return true;
	/* Supplementary groups straight from the kernel: no NSS lookup (no recursion). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == c->admin_gid)
			return true;
	return false;
}

static int send_error(int fd, uint16_t code, int status, const char *msg)
{
	struct mm_msg *m = mm_msg_new(code, true);
	int r;

	if (!m)
		return -ENOMEM;
	m->status = status;
	mm_msg_set_message(m, "%s", msg);
	r = mm_msg_send(fd, m, MM_IO_TIMEOUT_MS);
	mm_msg_free(m);
	return r;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct server *srv = cl->srv;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = cl->fd;

	free(cl);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_msg(LOG_WARNING, "SO_PEERCRED failed: %s", strerror(errno));
		goto out;
	}
	for (unsigned n = 0; n < MAX_REQUESTS_PER_CONN && !atomic_load(&srv->stopping); n++) {
		struct mm_msg *in = NULL, *out = NULL;
		struct req r = {0};
		int rc;

		rc = mm_msg_recv(fd, false, MM_IO_TIMEOUT_MS, &in);
		if (rc == -EPIPE || rc == -ECONNRESET)
			break;
		if (rc == -ETIMEDOUT)
			break;
		if (rc < 0) {
			/* Tell the client what was wrong, then drop the connection: after a bad
			 * frame the stream cannot be trusted to be in step. */
			log_msg(LOG_NOTICE, "uid %u pid %d: malformed request (%s)", (unsigned)cr.uid,
				(int)cr.pid, strerror(-rc));
			(void)send_error(fd, 0, rc, rc == -EMSGSIZE ? "trame trop grande" : "trame invalide");
			break;
		}
		out = mm_msg_new(in->code, true);
		if (!out) {
			mm_msg_free(in);
			break;
		}
		pthread_rwlock_rdlock(&srv->reload_lock);
		r.d = srv->d;
		r.cfg = srv->d->cfg;
		r.store = srv->d->store;
		caller_from_peer(&r.who, cr.uid, cr.gid, cr.pid, caller_is_admin(r.cfg, fd, &cr));
		r.in = in;
		r.out = out;
		r.fd = fd;
		out->status = req_finish(&r, dispatch(&r));
		pthread_rwlock_unlock(&srv->reload_lock);
		rc = mm_msg_send(fd, out, MM_IO_TIMEOUT_MS);
		mm_msg_free(in);
		mm_msg_free(out);
		if (rc < 0)
			break;
	}
out:
	close(fd);
	atomic_fetch_sub(&nclients, 1);
	return NULL;
}

int server_run(struct server *srv)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	while (!atomic_load(&srv->stopping)) {
		struct pollfd p[2] = {
			{.fd = srv->listen_fd, .events = POLLIN}, {.fd = srv->wake_fd, .events = POLLIN}};
		struct client *cl;
		pthread_t t;
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents & POLLIN) {
			if (srv->on_wake)
				srv->on_wake(srv);
			continue;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		if (atomic_fetch_add(&nclients, 1) >= srv->d->cfg->max_clients) {
			atomic_fetch_sub(&nclients, 1);
			(void)send_error(fd, 0, -EAGAIN, "démon saturé, réessayez");
			close(fd);
			continue;
		}
		cl = malloc(sizeof(*cl));
		if (!cl) {
			atomic_fetch_sub(&nclients, 1);
			close(fd);
			continue;
		}
		cl->fd = fd;
		cl->srv = srv;
		if (pthread_create(&t, &attr, client_main, cl) != 0) {
			free(cl);
			close(fd);
			atomic_fetch_sub(&nclients, 1);
		}
	}
	pthread_attr_destroy(&attr);
	/* Let running requests finish (bounded by their I/O timeouts). */
	for (int i = 0; i < 100 && atomic_load(&nclients); i++)
		usleep(50000);
	return 0;
}
