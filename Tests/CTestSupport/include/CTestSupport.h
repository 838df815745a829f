// C calls the tests need and Swift cannot import (glibc declares them only with _GNU_SOURCE).
#pragma once

/// unshare(CLONE_NEWNET) for the calling thread: a fresh network namespace with only a down lo.
int ctest_unshare_network(void);

#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np(actions, 3): the child gets no descriptor above 2.
int ctest_spawn_close_inherited(posix_spawn_file_actions_t *actions);
