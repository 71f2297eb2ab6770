/* The daemon's clock for deadlines of what it keeps in memory: monotonic seconds. */
#pragma once

#include <time.h>

static inline long long mm_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}
