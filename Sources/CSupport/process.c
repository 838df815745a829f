#include "CSupport.h"
#include <sys/prctl.h>

int ei_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
