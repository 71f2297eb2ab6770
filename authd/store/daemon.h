/* The daemon's state that every door serves from: its configuration and its
 * directory. Owned by main.c; the socket server and the HTTP listener hold
 * a pointer to it. */
#pragma once

#include "config.h"
#include "store.h"

struct daemon {
	struct mm_config *cfg;
	struct store *store;
};
