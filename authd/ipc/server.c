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
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"

#define MAX_REQUESTS_PER_CONN 10000

static atomic_uint nclients;

/* Connections open per uid, so that one local user holding connections (or stalling in the
 * middle of a frame) cannot take every slot of max_clients from the others. Open addressing
 * on the uid, deletion by backward shift; only the accept loop adds, client threads remove. */
#define UID_SLOTS 8192u
static struct {
	uid_t uid;
	unsigned n; /* 0: free */
} per_uid[UID_SLOTS];
static pthread_mutex_t per_uid_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned uid_home(uid_t uid)
{
	return (unsigned)((uid * 2654435761u) % UID_SLOTS);
}

/* Takes a slot for uid unless it holds cap already (cap 0: no cap); false when refused. */
static bool uid_take(uid_t uid, unsigned cap)
{
	unsigned i = uid_home(uid);
	bool ok = false;

	pthread_mutex_lock(&per_uid_lock);
	for (unsigned probes = 0; probes < UID_SLOTS; probes++, i = (i + 1) % UID_SLOTS) {
		if (per_uid[i].n && per_uid[i].uid != uid)
			continue;
		if (!per_uid[i].n)
			per_uid[i].uid = uid;
		if (!cap || per_uid[i].n < cap) {
			per_uid[i].n++;
			ok = true;
		}
		break;
	}
	pthread_mutex_unlock(&per_uid_lock);
	return ok;
}

static void uid_give(uid_t uid)
{
	unsigned i = uid_home(uid), j;

	pthread_mutex_lock(&per_uid_lock);
	for (unsigned probes = 0; probes < UID_SLOTS && per_uid[i].n; probes++, i = (i + 1) % UID_SLOTS) {
		if (per_uid[i].uid != uid)
			continue;
		if (--per_uid[i].n)
			break;
		/* Backward shift: later entries of the run that could live here move up. */
		for (j = (i + 1) % UID_SLOTS; per_uid[j].n; j = (j + 1) % UID_SLOTS) {
			unsigned h = uid_home(per_uid[j].uid);
			bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);

			if (between)
				continue;
			per_uid[i] = per_uid[j];
			per_uid[j].n = 0;
			i = j;
		}
		break;
	}
	pthread_mutex_unlock(&per_uid_lock);
}

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
		chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
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
	struct ucred cr;
	struct client *next; /* in the hand-over queue */
};

/* A thread that served a connection waits a while for the next one instead of exiting: every
 * lookup through the socket and every PAM call opens a connection, and a clone per connection
 * (with its stack's first page faults) cost the daemon 10-20 us of CPU and the caller a third of
 * its p99 (bench/ipc/RESULTS.md). At most IDLE_MAX threads wait, each for IDLE_SECS; connections
 * beyond max_clients are refused as before, so a flood gets no more threads than it did. */
#define IDLE_MAX 16u
#define IDLE_SECS 30

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more; /* a connection was queued, or the server stops */
	struct client *head, *tail;
	unsigned idle; /* threads waiting; never fewer than the queued connections */
	unsigned queued;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

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

/* At most one "too many connections" line a second: the refusals themselves are the flood. */
static _Atomic long long too_many_said;

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

/* Serves one connection to its end; cl is freed first (its fields copied). */
static void serve(struct client *cl)
{
	struct server *srv = cl->srv;
	struct ucred cr = cl->cr;
	int fd = cl->fd;

	free(cl);
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
	close(fd);
	if (cr.uid != 0)
		uid_give(cr.uid);
	atomic_fetch_sub(&nclients, 1);
}

/* The next connection handed over to this thread, or NULL: it exits (enough threads wait
 * already, none came within IDLE_SECS, or the server stops). A connection queued before the
 * stop is still taken, so that its slot in nclients and per_uid is given back. */
static struct client *next_client(struct server *srv)
{
	struct client *cl = NULL;
	struct timespec now, slice;
	time_t end;

	clock_gettime(CLOCK_MONOTONIC, &now);
	end = now.tv_sec + IDLE_SECS;
	pthread_mutex_lock(&pool.lock);
	if (pool.idle >= IDLE_MAX || atomic_load(&srv->stopping)) {
		pthread_mutex_unlock(&pool.lock);
		return NULL;
	}
	pool.idle++;
	/* In slices of a second: were a signal ever lost (glibc bug 25847), a queued connection
	 * would wait a second, not the whole IDLE_SECS. */
	while (!pool.head && !atomic_load(&srv->stopping) && now.tv_sec < end) {
		slice = now;
		slice.tv_sec++;
		(void)pthread_cond_timedwait(&pool.more, &pool.lock, &slice);
		clock_gettime(CLOCK_MONOTONIC, &now);
	}
	if ((cl = pool.head)) {
		pool.head = cl->next;
		if (!pool.head)
			pool.tail = NULL;
		pool.queued--;
	}
	pool.idle--;
	pthread_mutex_unlock(&pool.lock);
	return cl;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct server *srv = cl->srv;

	for (; cl; cl = next_client(srv))
		serve(cl);
	return NULL;
}

/* Gives cl to a waiting thread; false when none is free. */
static bool hand_over(struct client *cl)
{
	bool given = false;

	pthread_mutex_lock(&pool.lock);
	if (pool.idle > pool.queued) {
		cl->next = NULL;
		if (pool.tail)
			pool.tail->next = cl;
		else
			pool.head = cl;
		pool.tail = cl;
		pool.queued++;
		pthread_cond_signal(&pool.more);
		given = true;
	}
	pthread_mutex_unlock(&pool.lock);
	return given;
}

/* The waiting threads' clock is the monotonic one: a step of the wall clock neither wakes them
 * early nor keeps them. */
static int pool_init(void)
{
	pthread_condattr_t ca;
	int r;

	if ((r = pthread_condattr_init(&ca)) != 0)
		return -r;
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(&pool.more, &ca);
	pthread_condattr_destroy(&ca);
	return -r;
}

int server_run(struct server *srv)
{
	pthread_attr_t attr;
	int r;

	if ((r = pool_init()) < 0) {
		log_msg(LOG_ERR, "thread pool: %s", strerror(-r));
		return r;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	while (!atomic_load(&srv->stopping)) {
		struct pollfd p[2] = {
			{.fd = srv->listen_fd, .events = POLLIN}, {.fd = srv->wake_fd, .events = POLLIN}};
		struct client *cl;
		struct ucred cr;
		socklen_t len = sizeof(cr);
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
		/* Who it is, from the kernel, before it costs a thread. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			log_msg(LOG_WARNING, "SO_PEERCRED failed: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (atomic_fetch_add(&nclients, 1) >= srv->d->cfg->max_clients) {
			atomic_fetch_sub(&nclients, 1);
			(void)send_error(fd, 0, -EAGAIN, "démon saturé, réessayez");
			close(fd);
			continue;
		}
		/* root (sshd, login, the system's services) is not capped: its callers are many users. */
		if (cr.uid != 0 && !uid_take(cr.uid, srv->d->cfg->max_clients_per_uid)) {
			atomic_fetch_sub(&nclients, 1);
			if (log_once_a_second(&too_many_said))
				log_msg(LOG_WARNING,
					"uid %u: more than max_clients_per_uid (%u) connections: refused",
					(unsigned)cr.uid, srv->d->cfg->max_clients_per_uid);
			(void)send_error(
				fd, 0, -EAGAIN, "trop de connexions ouvertes par cet utilisateur, réessayez");
			close(fd);
			continue;
		}
		cl = malloc(sizeof(*cl));
		if (!cl) {
			if (cr.uid != 0)
				uid_give(cr.uid);
			atomic_fetch_sub(&nclients, 1);
			close(fd);
			continue;
		}
		cl->fd = fd;
		cl->srv = srv;
		cl->cr = cr;
		if (hand_over(cl))
			continue;
		if (pthread_create(&t, &attr, client_main, cl) != 0) {
			free(cl);
			close(fd);
			if (cr.uid != 0)
				uid_give(cr.uid);
			atomic_fetch_sub(&nclients, 1);
		}
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&pool.lock);
	pthread_cond_broadcast(&pool.more);
	pthread_mutex_unlock(&pool.lock);
	/* Let running requests finish (bounded by their I/O timeouts). */
	for (int i = 0; i < 100 && atomic_load(&nclients); i++)
		usleep(50000);
	return 0;
}
