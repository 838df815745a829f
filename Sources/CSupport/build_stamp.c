// The version and commit the binary reports, stamped into it by scripts/build-static after the
// link: it finds this marker in dist/enclave-init and overwrites the array in place with
// "VERSION COMMIT". Building needs no generated source, and a new commit rebuilds nothing.
// `volatile` keeps the compiler from folding the marker into the code that reads it.
#include "CSupport.h"

__attribute__((used)) const volatile char ei_build_stamp[96] = "@@enclave-init-build-stamp@@";

void ei_copy_build_stamp(char *out, unsigned long capacity) {
    unsigned long i = 0;
    for (; i + 1 < capacity && i < sizeof ei_build_stamp && ei_build_stamp[i] != 0; i++) out[i] = ei_build_stamp[i];
    if (capacity > 0) out[i] = 0;
}
