#define _GNU_SOURCE
#include "CTestSupport.h"
#include <sched.h>

int ctest_unshare_network(void) { return unshare(CLONE_NEWNET); }
