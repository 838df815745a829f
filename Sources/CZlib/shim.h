// zlib: crc32 for EIF images (the CRC QEMU and nitro-cli check) and, for image layers, gzip.
#include <zlib.h>
