/* The unix socket: accepts clients, learns who they are (SO_PEERCRED) and serves their requests. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "daemon.h"

struct server {
	struct daemon *d;
	int listen_fd;
	int wake_fd; /* readable when a signal arrived */
	atomic_bool stopping;
	pthread_rwlock_t reload_lock; /* requests hold it shared; a reload exclusively */
	void (*on_wake)(struct server *srv);
};

int server_listen(const char *path, int *ret_fd) __attribute__((warn_unused_result));
int server_run(struct server *srv);
