#include "CSupport.h"
#include <sys/reboot.h>
#include <unistd.h>

int ei_power_off(void) {
    sync();
    return reboot(RB_POWER_OFF);
}
