// CRC-32C (Castagnoli), the checksum of journal records and snapshots: it
// catches torn writes and flipped bits, which is all it is asked to do.
#pragma once

#include <cstddef>
#include <cstdint>

namespace userfs::server {

// `seed` chains calls: crc32c(b, nb, crc32c(a, na)) == crc32c(a ++ b).
uint32_t crc32c(const void* data, size_t len, uint32_t seed = 0);

}  // namespace userfs::server
