#include "CSupport.h"
#include <sys/wait.h>

int ei_wifexited(int status) { return WIFEXITED(status); }
int ei_wexitstatus(int status) { return WEXITSTATUS(status); }
int ei_wifsignaled(int status) { return WIFSIGNALED(status); }
int ei_wtermsig(int status) { return WTERMSIG(status); }
