// The CUDA caching allocator, reached through c10's device-generic allocator interface so
// that no CUDA toolkit headers are needed: tch has no binding for emptyCache or the memory
// statistics. Call these only when CUDA is available.
#include <c10/core/CachingDeviceAllocator.h>

#include <cstdint>

namespace {
c10::DeviceAllocator* cuda_allocator() {
  return c10::getDeviceAllocator(c10::DeviceType::CUDA);
}
}  // namespace

// Returns 0 on success, -1 when there is no CUDA allocator.
extern "C" int render_cuda_empty_cache() {
  try {
    cuda_allocator()->emptyCache();
    return 0;
  } catch (...) {
    return -1;
  }
}

// Peak bytes allocated on `device` since the last reset, or -1.
extern "C" int64_t render_cuda_peak_allocated(int device) {
  try {
    auto stats = cuda_allocator()->getDeviceStats(static_cast<c10::DeviceIndex>(device));
    return stats.allocated_bytes[0].peak;  // StatType::AGGREGATE
  } catch (...) {
    return -1;
  }
}

extern "C" int render_cuda_reset_peak(int device) {
  try {
    cuda_allocator()->resetPeakStats(static_cast<c10::DeviceIndex>(device));
    return 0;
  } catch (...) {
    return -1;
  }
}
