// Pins host lookups to the NSS services compiled into glibc. A static binary that let
// nsswitch.conf name others ("resolve", "myhostname", "mdns4") would dlopen shared modules
// built for another glibc into itself.
#include "CSupport.h"

#include <nss.h>
#include <pthread.h>

static void pin(void) { __nss_configure_lookup("hosts", "files dns"); }

void ei_use_builtin_host_lookup(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pin);
}
