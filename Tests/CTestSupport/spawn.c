#define _GNU_SOURCE
#include "CTestSupport.h"

int ctest_spawn_close_inherited(posix_spawn_file_actions_t *actions) {
    return posix_spawn_file_actions_addclosefrom_np(actions, 3);
}
