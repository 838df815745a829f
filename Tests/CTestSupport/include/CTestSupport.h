// C calls the tests need and Swift cannot import (glibc declares them only with _GNU_SOURCE).
#pragma once

/// unshare(CLONE_NEWNET) for the calling thread: a fresh network namespace with only a down lo.
int ctest_unshare_network(void);
